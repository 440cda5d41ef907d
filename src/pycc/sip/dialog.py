"""SIP dialogs: the peer-to-peer state two user agents keep between an INVITE and its BYE.

A `Dialog` builds the requests and responses that travel inside one dialog and consumes the
ones received in it; it never sends anything. Its caller (a user agent, the B2BUA) passes
what it builds to the transaction layer, adding the Via with its own transport address, and
feeds back what the transactions deliver. The dialog does not know transactions exist.

Inputs: received messages with ``now`` (`receive_request`, `receive_response`), user actions
(`create_request`, `create_response`, `create_ack`, `create_prack`,
`prepare_reliable_provisional`) and `handle_timer`. Outputs: the messages built, the
retransmissions `handle_timer` returns, events from `next_event` and `get_timer`.

Implements:

- RFC 3261 §12.1.1 and §12.1.2 (creating a dialog on the UAS and the UAC side: route set,
  remote target, sequence numbers, secure flag), §12.2.1.1 (building a request in a dialog,
  loose and strict routing), §12.2.1.2 (responses in a dialog: target refresh, 481/408),
  §12.2.2 (requests in a dialog: CSeq order, target refresh), §12.3 (termination).
- RFC 3261 §13.2.1 offer/answer placement, §13.2.2.4 (the ACK for a 2xx), §13.3.1.4 (the UAS
  core retransmits its 2xx until the ACK), §14.1 and §14.2 (re-INVITE glare: 491, 500 with
  Retry-After, the retry delay), §15 (BYE).
- RFC 3262 §3 to §5 (reliable provisional responses: Require 100rel, RSeq, RAck, PRACK,
  retransmission of the provisional response, in-order acceptance).
- RFC 3311 §5 (UPDATE: target refresh, offer/answer glare answered 491 or 500).
- RFC 6141 in part: a rejected target-refresh request does not change the remote target.

State changes follow two explicit tables: `DIALOG_TRANSITIONS` for early/confirmed/terminated
and `OFFER_TRANSITIONS` for the offer/answer exchange that re-INVITE and UPDATE glare needs.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pycc.sip.errors import SipParseError, SipUsageError
from pycc.sip.headers import CSeq, Headers, NameAddr, parse_uint
from pycc.sip.message import Message, Request, Response, make_response
from pycc.sip.uri import SipUri, Uri

__all__ = [
    "DIALOG_TRANSITIONS",
    "MAX_FORWARDS",
    "OFFER_TRANSITIONS",
    "T1",
    "T2",
    "TARGET_REFRESH_METHODS",
    "AckTimedOut",
    "Dialog",
    "DialogCheck",
    "DialogEvent",
    "DialogId",
    "DialogInput",
    "DialogState",
    "OfferInput",
    "OfferState",
    "ReliableProvisionalTimedOut",
    "glare_retry_delay",
    "is_reliable_provisional",
]

#: RFC 3261 §17.1.1.1 timer values; the reliable-response and 2xx retransmissions use them.
T1 = 0.5
T2 = 4.0
#: RFC 3261 §8.1.1.6 recommends 70.
MAX_FORWARDS = 70
#: Requests of the INVITE usage that replace the remote target (RFC 3261 §12.2, RFC 3311 §5).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE"})

_SDP = "application/sdp"
#: Upper bound of a first CSeq (RFC 3261 §8.1.1.5) and of a first RSeq (RFC 3262 §3).
_FIRST_SEQ_MAX = 2**31 - 1
_SEQ_MAX = 2**32 - 1
_SYSTEM_RANDOM = random.SystemRandom()


# -- identity --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID and the two tags (RFC 3261 §12): the key a user agent finds its dialog by.

    An empty tag stands for a peer that sent none (RFC 2543 compatibility, §12.1.1).
    """

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def of_received_request(cls, request: Message) -> DialogId:
        """The id, seen from the receiver, of the dialog a request belongs to."""
        return cls(request.call_id, request.to.tag or "", request.from_.tag or "")

    @classmethod
    def of_received_response(cls, response: Message) -> DialogId:
        """The id, seen from the UAC, of the dialog a response belongs to."""
        return cls(response.call_id, response.from_.tag or "", response.to.tag or "")


# -- the dialog state table ------------------------------------------------------------------


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogInput(enum.Enum):
    """What moves a dialog, whichever side sent or received it."""

    #: A 101-199 response with a tag to the INVITE that created the dialog.
    PROVISIONAL = "provisional"
    #: A 2xx response to an INVITE of the dialog.
    SUCCESS = "success"
    #: A non-2xx final response to the INVITE that created the dialog (§12.3).
    FAILURE = "failure"
    #: A 481 or 408 to a request in the dialog: the peer has lost it (§12.2.1.2).
    GONE = "gone"
    #: A BYE sent or received (§15).
    BYE = "bye"


_E, _C, _T = DialogState.EARLY, DialogState.CONFIRMED, DialogState.TERMINATED

#: Every (state, input) pair and the state it leads to. A confirmed dialog never goes back to
#: early, and only termination ends it; a failure to a re-INVITE is not FAILURE (§14.1: the
#: session stays as it was), which is why CONFIRMED keeps its state on FAILURE.
DIALOG_TRANSITIONS: Mapping[tuple[DialogState, DialogInput], DialogState] = {
    (_E, DialogInput.PROVISIONAL): _E,
    (_E, DialogInput.SUCCESS): _C,
    (_E, DialogInput.FAILURE): _T,
    (_E, DialogInput.GONE): _T,
    (_E, DialogInput.BYE): _T,
    (_C, DialogInput.PROVISIONAL): _C,
    (_C, DialogInput.SUCCESS): _C,
    (_C, DialogInput.FAILURE): _C,
    (_C, DialogInput.GONE): _T,
    (_C, DialogInput.BYE): _T,
    **{(_T, event): _T for event in DialogInput},
}


# -- the offer/answer table ------------------------------------------------------------------


class OfferState(enum.Enum):
    """Where the session description exchange stands (RFC 3264 §4, RFC 3261 §13.2.1)."""

    STABLE = "stable"
    #: We sent an offer and wait for its answer.
    LOCAL_OFFER = "local-offer"
    #: We received an offer and owe the answer.
    REMOTE_OFFER = "remote-offer"


class OfferInput(enum.Enum):
    SEND_OFFER = "send-offer"
    SEND_ANSWER = "send-answer"
    RECEIVE_OFFER = "receive-offer"
    RECEIVE_ANSWER = "receive-answer"


#: A missing pair is a protocol error: ours raises `SipUsageError`, the peer's is ignored
#: (or, for a request, answered 491/500 before it gets here).
OFFER_TRANSITIONS: Mapping[tuple[OfferState, OfferInput], OfferState] = {
    (OfferState.STABLE, OfferInput.SEND_OFFER): OfferState.LOCAL_OFFER,
    (OfferState.STABLE, OfferInput.RECEIVE_OFFER): OfferState.REMOTE_OFFER,
    (OfferState.LOCAL_OFFER, OfferInput.RECEIVE_ANSWER): OfferState.STABLE,
    (OfferState.REMOTE_OFFER, OfferInput.SEND_ANSWER): OfferState.STABLE,
}

#: A transaction as offer/answer bookkeeping names it: (we sent the request, method, CSeq).
#: ACK and every response to an INVITE share the INVITE's key.
_TxnKey = tuple[bool, str, int]


# -- results and events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialogCheck:
    """What the dialog says about a request received in it.

    ``status is None``: the request is accepted; the application handles it and answers
    (for a PRACK, with 200). Otherwise answer with `response` and stop.
    """

    status: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status is None

    def response(self, request: Request) -> Response:
        """The rejection to send, with Retry-After where §14.2 asks for one."""
        if self.status is None:
            raise SipUsageError("an accepted request is answered by the application")
        extra = [] if self.retry_after is None else [("Retry-After", str(self.retry_after))]
        return make_response(request, self.status, self.reason, extra=extra)


@dataclass(frozen=True, slots=True)
class ReliableProvisionalTimedOut:
    """No PRACK came within 64*T1: RFC 3262 §3 says reject the INVITE with a 5xx."""

    cseq: int
    rseq: int


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """No ACK came for our 2xx within 64*T1: RFC 3261 §13.3.1.4 says end it with a BYE."""

    cseq: int


DialogEvent = ReliableProvisionalTimedOut | AckTimedOut


@dataclass(slots=True)
class _Retransmission:
    """A response the dialog resends until the peer acknowledges it."""

    response: Response
    cseq: int
    next_at: float
    interval: float
    cap: float | None
    give_up_at: float
    rseq: int = 0
    has_sdp: bool = False


# -- helpers ---------------------------------------------------------------------------------


def glare_retry_delay(is_call_owner: bool, rng: random.Random) -> float:
    """How long to wait before retrying a re-INVITE that got 491 (RFC 3261 §14.1).

    The owner of the Call-ID waits 2.1 to 4 s, the other side 0 to 2 s, in 10 ms steps, so
    the two retries do not collide again.
    """
    ticks = rng.randint(210, 400) if is_call_owner else rng.randint(0, 200)
    return ticks / 100


def has_session_description(message: Message) -> bool:
    return bool(message.body) and message.content_type == _SDP


def is_reliable_provisional(response: Response) -> bool:
    """A 1xx sent reliably: ``Require: 100rel`` and an RSeq (RFC 3262 §3)."""
    return (
        101 <= response.status <= 199
        and "100rel" in response.option_tags("require")
        and response.headers.get("rseq") is not None
    )


def _rseq_of(response: Response) -> int | None:
    value = response.headers.get("rseq")
    if value is None:
        return None
    try:
        number = parse_uint(value, "RSeq")
    except SipParseError:
        return None
    return number if number >= 1 else None


def _without_tag(addr: NameAddr) -> NameAddr:
    params = {k: v for k, v in addr.params.items() if k != "tag"}
    return NameAddr(addr.uri, addr.display_name, params)


def _with_tag(addr: NameAddr, tag: str) -> str:
    return str(addr.with_tag(tag) if tag else addr)


def _request_uri(uri: Uri) -> Uri:
    # RFC 3261 §19.1.1 table 1: a method parameter and headers are not allowed in a
    # Request-URI (and the parser rejects headers there), so a target or strict route
    # carrying them is stripped.
    if isinstance(uri, SipUri) and (uri.headers or "method" in uri.params):
        params = {k: v for k, v in uri.params.items() if k != "method"}
        return uri.with_(params=params, headers={})
    return uri


def _is_loose_router(route: str) -> bool:
    uri = NameAddr.parse(route, "Route").uri
    return isinstance(uri, SipUri) and "lr" in uri.params


def _parse_local_contact(value: str | NameAddr) -> NameAddr:
    return value if isinstance(value, NameAddr) else NameAddr.parse(value, "Contact")


def _record_route_values(message: Message) -> list[str]:
    message.record_routes  # noqa: B018 - raises SipParseError on a malformed value
    return message.headers.values("record-route")


def _peer_wants_100rel(request: Request) -> bool:
    return bool({"100rel"} & (request.option_tags("supported") | request.option_tags("require")))


# -- the dialog ------------------------------------------------------------------------------


class Dialog:
    """One dialog of the INVITE usage, from one side.

    Build it with `from_uac_response` or `from_uas_request`. Public fields are the §12 dialog
    state; ``local_seq`` is None until a request is sent on a dialog the peer created.
    """

    def __init__(
        self,
        *,
        id: DialogId,
        local_uri: NameAddr,
        remote_uri: NameAddr,
        remote_target: Uri,
        local_contact: NameAddr,
        is_uac: bool,
        route_set: Iterable[str] = (),
        local_seq: int | None = None,
        remote_seq: int | None = None,
        secure: bool = False,
        state: DialogState = DialogState.EARLY,
        rng: random.Random | None = None,
        t1: float = T1,
    ) -> None:
        self.id = id
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.local_contact = local_contact
        self.is_uac = is_uac
        self.route_set = list(route_set)
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        self.state = state
        self.t1 = t1
        self._rng = rng if rng is not None else _SYSTEM_RANDOM
        #: CSeq of the INVITE that created the dialog.
        self._initial_invite_seq: int | None = None
        #: Our INVITE waiting for its final response, and the peer's waiting for ours (§14).
        self._invite_client_seq: int | None = None
        self._invite_server_seq: int | None = None
        #: Last of our INVITEs that got a 2xx: a second 2xx for it is a retransmission.
        self._last_2xx_invite_seq: int | None = None
        self._acked_invite_seq: int | None = None
        self._offer_state = OfferState.STABLE
        self._offer_origin: _TxnKey | None = None
        #: The INVITE whose offer/answer pair is complete: later SDP in its responses or ACK
        #: repeats the answer and is no new offer (RFC 3262 §5, RFC 3261 §13.2.1).
        self._invite_oa_done: _TxnKey | None = None
        # RFC 3262, UAC side: last in-order RSeq per INVITE, and PRACKs owed.
        self._rseq_in: tuple[int, int] | None = None
        self._prack_owed: set[tuple[int, int]] = set()
        # RFC 3262, UAS side.
        self._peer_100rel = False
        self._rseq_out: tuple[int, int] | None = None
        self._reliable_acked_seq: int | None = None
        self._unacked: dict[int, _Retransmission] = {}
        self._awaiting_ack: dict[int, _Retransmission] = {}
        self._events: deque[DialogEvent] = deque()

    def __repr__(self) -> str:
        side = "UAC" if self.is_uac else "UAS"
        return f"<Dialog {side} {self.state.value} {self.id.call_id}>"

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def from_uac_response(
        cls,
        invite: Request,
        response: Response,
        *,
        rng: random.Random | None = None,
        t1: float = T1,
    ) -> Dialog:
        """The dialog a 101-299 response with a To tag creates at the UAC (RFC 3261 §12.1.2).

        The route set is the response's Record-Route reversed, the remote target its
        Contact; a 1xx makes an early dialog, a 2xx a confirmed one. Forked responses with
        other To tags are other dialogs: call this once per tag.
        """
        if not 101 <= response.status <= 299:
            raise SipUsageError(f"a {response.status} response creates no dialog")
        remote_tag = response.to.tag
        if not remote_tag:
            raise SipUsageError("a response without a To tag creates no dialog")
        if not invite.contacts:
            raise SipUsageError("the INVITE has no Contact to be the local contact")
        seq = invite.cseq.seq
        dialog = cls(
            id=DialogId(invite.call_id, invite.from_.tag or "", remote_tag),
            local_uri=_without_tag(invite.from_),
            remote_uri=_without_tag(response.to),
            # A 1xx without Contact leaves the target where the INVITE went until one comes.
            remote_target=invite.uri,
            local_contact=invite.contacts[0],
            is_uac=True,
            route_set=reversed(_record_route_values(response)),
            local_seq=seq,
            # §12.1.2: secure if the request went over TLS to a SIPS Request-URI.
            secure=isinstance(invite.uri, SipUri) and invite.uri.scheme.lower() == "sips",
            rng=rng,
            t1=t1,
        )
        dialog._initial_invite_seq = seq
        dialog._invite_client_seq = seq
        if has_session_description(invite):
            dialog._sdp_moved(sending=True, key=(True, "INVITE", seq), offer_ok=True)
        if response.contacts:
            dialog.remote_target = response.contacts[0].uri
        dialog._invite_response(response)
        return dialog

    @classmethod
    def from_uas_request(
        cls,
        request: Request,
        local_tag: str,
        local_contact: str | NameAddr,
        *,
        early: bool = False,
        over_tls: bool = False,
        rng: random.Random | None = None,
        t1: float = T1,
    ) -> Dialog:
        """The dialog a request creates at the UAS (RFC 3261 §12.1.1).

        The route set is the request's Record-Route in order, the remote target its
        Contact. By default the INVITE is taken as already answered with a 2xx the caller
        built itself, and the dialog is confirmed. With ``early=True`` the dialog starts
        early and follows the INVITE: build its 1xx and final response with
        `create_response` (or report them with `response_sent`), which also copies the
        Record-Route and adds the Contact that §12.1.1 asks of them.
        """
        if not request.contacts:
            raise SipParseError("Missing Contact header")
        seq = request.cseq.seq
        dialog = cls(
            id=DialogId(request.call_id, local_tag, request.from_.tag or ""),
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=request.contacts[0].uri,
            local_contact=_parse_local_contact(local_contact),
            is_uac=False,
            route_set=_record_route_values(request),
            remote_seq=seq,
            secure=over_tls
            and isinstance(request.uri, SipUri)
            and request.uri.scheme.lower() == "sips",
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            rng=rng,
            t1=t1,
        )
        dialog._initial_invite_seq = seq
        if request.method == "INVITE":
            dialog._peer_100rel = _peer_wants_100rel(request)
            if early:
                dialog._invite_server_seq = seq
                if has_session_description(request):
                    dialog._sdp_moved(sending=False, key=(False, "INVITE", seq), offer_ok=True)
        return dialog

    # -- reading -----------------------------------------------------------------------------
    @property
    def offer_state(self) -> OfferState:
        return self._offer_state

    def can_send_offer(self) -> bool:
        """No offer/answer exchange is in progress, so an offer may go out (RFC 3311 §5.1)."""
        return self.state is not DialogState.TERMINATED and self._offer_state is OfferState.STABLE

    def can_reinvite(self) -> bool:
        """A re-INVITE may be sent: confirmed, and no INVITE in progress either way (§14.1)."""
        return (
            self.state is DialogState.CONFIRMED
            and self._invite_client_seq is None
            and self._invite_server_seq is None
            and self._offer_state is OfferState.STABLE
        )

    def glare_retry_delay(self) -> float:
        """The wait before retrying after a 491; the UAC of the dialog owns the Call-ID."""
        return glare_retry_delay(self.is_uac, self._rng)

    # -- building requests -------------------------------------------------------------------
    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """A request in this dialog (RFC 3261 §12.2.1.1), without Via.

        The caller adds the Via with its transport address and a new branch, then hands the
        request to a client transaction. The CSeq takes the next local sequence number;
        ACK and CANCEL are not built here (see `create_ack`; a CANCEL copies its INVITE).
        """
        if method in ("ACK", "CANCEL"):
            raise SipUsageError(f"{method} is not built by create_request")
        if body and content_type is None:
            raise SipUsageError("a body needs a content type")
        self._check_can_send(method)
        sdp = bool(body) and (content_type or "").split(";")[0].strip().lower() == _SDP
        if method == "INVITE" and (self._invite_client_seq is not None
                                   or self._invite_server_seq is not None):
            # §14.1: no re-INVITE while another INVITE transaction is in progress either way.
            raise SipUsageError("an INVITE transaction is already in progress in this dialog")
        if sdp and method in ("INVITE", "UPDATE") and self._offer_state is not OfferState.STABLE:
            raise SipUsageError("an offer/answer exchange is already in progress")
        previous_seq = self.local_seq
        seq = self._next_local_seq()
        request = self._build(method, seq, body, content_type, extra_headers)
        if sdp and method in ("INVITE", "UPDATE", "PRACK"):
            key = (True, method, seq)
            if not self._sdp_moved(sending=True, key=key, offer_ok=True,
                                   answer_ok=method == "PRACK"):
                self.local_seq = previous_seq  # a refused request leaves no trace
                raise SipUsageError(f"a session description cannot go in this {method} now")
        if method == "INVITE":
            self._invite_client_seq = seq
        if method == "BYE":
            self._apply(DialogInput.BYE)
        return request

    def create_ack(
        self,
        invite_cseq: int,
        body: bytes = b"",
        content_type: str = _SDP,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """The ACK for a 2xx to our INVITE (RFC 3261 §13.2.2.4), without Via.

        Built like any request in the dialog, but with the INVITE's CSeq number. A body is
        the answer to an offer the 2xx carried. Credentials the INVITE carried go in
        ``extra_headers``. Send the same ACK again for each retransmitted 2xx.
        """
        if self.state is DialogState.TERMINATED and self._last_2xx_invite_seq != invite_cseq:
            raise SipUsageError("the dialog is terminated")
        request = self._build("ACK", invite_cseq, body, content_type if body else None,
                              extra_headers)
        # Building the ACK shows the 2xx arrived, even if receive_response was not told.
        self._invite_2xx_seen(invite_cseq)
        if self._acked_invite_seq != invite_cseq:
            self._acked_invite_seq = invite_cseq
            key = (True, "INVITE", invite_cseq)
            if has_session_description(request):
                if not self._sdp_moved(sending=True, key=key, answer_ok=True):
                    raise SipUsageError("no offer in the 2xx for this ACK to answer")
            else:
                self._oa_rollback(key)
        return request

    def create_prack(
        self,
        provisional: Response,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Request | None:
        """The PRACK for a reliable provisional response (RFC 3262 §4), or None.

        None for an unreliable response, a retransmission, one out of order, or one already
        PRACKed. ``body`` may answer an offer the provisional response carried.
        """
        if not is_reliable_provisional(provisional) or provisional.cseq.method != "INVITE":
            return None
        self._accept_reliable(provisional)  # no-op if receive_response saw it already
        rseq = _rseq_of(provisional)
        key = (rseq or 0, provisional.cseq.seq)
        if key not in self._prack_owed:
            return None
        rack = ("RAck", f"{key[0]} {key[1]} INVITE")
        prack = self.create_request("PRACK", body=body, content_type=content_type,
                                    extra_headers=[rack, *extra_headers])
        self._prack_owed.discard(key)
        return prack

    def _check_can_send(self, method: str) -> None:
        if self.state is DialogState.TERMINATED:
            raise SipUsageError(f"cannot send {method}: the dialog is terminated")
        if self.state is DialogState.EARLY:
            if method == "INVITE":
                raise SipUsageError("a re-INVITE needs a confirmed dialog")
            if method == "BYE" and not self.is_uac:
                # §15: the callee must not send BYE on an early dialog; it answers instead.
                raise SipUsageError("the UAS ends an early dialog with a final response")

    def _next_local_seq(self) -> int:
        if self.local_seq is None:
            # §12.2.1.1: an empty local sequence number starts anywhere below 2**31.
            self.local_seq = self._rng.randint(1, _FIRST_SEQ_MAX)
        else:
            if self.local_seq >= _SEQ_MAX:
                raise SipUsageError("CSeq space of the dialog exhausted")
            self.local_seq += 1
        return self.local_seq

    def _build(
        self,
        method: str,
        seq: int,
        body: bytes,
        content_type: str | None,
        extra_headers: Iterable[tuple[str, str]],
    ) -> Request:
        uri, routes = self._request_target()
        headers = Headers()
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", str(MAX_FORWARDS))
        headers.add("To", _with_tag(self.remote_uri, self.id.remote_tag))
        headers.add("From", _with_tag(self.local_uri, self.id.local_tag))
        headers.add("Call-ID", self.id.call_id)
        headers.add("CSeq", str(CSeq(seq, method)))
        if method in TARGET_REFRESH_METHODS:
            headers.add("Contact", str(self.local_contact))
        for name, value in extra_headers:
            headers.add(name, value)
        if body and content_type is not None:
            headers.add("Content-Type", content_type)
        return Request(headers, body, method, uri)

    def _request_target(self) -> tuple[Uri, list[str]]:
        """Request-URI and Route values for the route set (RFC 3261 §12.2.1.1)."""
        if not self.route_set or _is_loose_router(self.route_set[0]):
            return _request_uri(self.remote_target), list(self.route_set)
        # A strict router (RFC 2543) expects to be the Request-URI; the remote target rides
        # as the last Route so that the last router can put it back.
        first = NameAddr.parse(self.route_set[0], "Route").uri
        return _request_uri(first), [*self.route_set[1:], f"<{self.remote_target}>"]

    # -- building responses (UAS side) -------------------------------------------------------
    def create_response(
        self,
        request: Request,
        status: int,
        now: float,
        reason: str | None = None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        """A response to a request of this dialog, booked with `response_sent`.

        Adds the local tag, the Record-Route of the dialog-creating INVITE to its 1xx and
        2xx (§12.1.1) and the Contact to 1xx/2xx of an INVITE and 2xx of an UPDATE. A 2xx to
        an INVITE is then resent by `handle_timer` until the ACK arrives (§13.3.1.4).
        """
        if request.method == "ACK":
            raise SipUsageError("an ACK gets no response")
        if body and content_type is None:
            raise SipUsageError("a body needs a content type")
        extra: list[tuple[str, str]] = []
        method = request.method
        if status > 100:
            creating = (
                method == "INVITE"
                and request.cseq.seq == self._initial_invite_seq
                and request.to.tag is None
            )
            if creating and status < 300:
                extra += [("Record-Route", v) for v in request.headers.get_all("record-route")]
            refresh = method == "INVITE" or (method == "UPDATE" and status >= 200)
            if refresh and status < 300:
                extra.append(("Contact", str(self.local_contact)))
        extra += extra_headers
        response = make_response(request, status, reason, to_tag=self.id.local_tag, extra=extra,
                                 body=body, content_type=content_type)
        self.response_sent(response, now)
        return response

    def response_sent(self, response: Response, now: float) -> None:
        """Book a response sent to the peer, built here or elsewhere (e.g. relayed).

        Moves the dialog on final responses to its INVITEs, tracks the offer/answer and
        starts the 2xx retransmission. Unreliable 1xx leave the offer/answer alone; a
        reliable one goes through `prepare_reliable_provisional` instead.
        """
        status = response.status
        if status <= 100:
            return
        method, seq = response.cseq.method, response.cseq.seq
        key: _TxnKey = (False, method, seq)
        sdp = has_session_description(response)
        if method == "INVITE":
            creating = seq == self._initial_invite_seq and not self.is_uac
            if status < 200:
                if creating:
                    self._apply(DialogInput.PROVISIONAL)
                return
            if status < 300:
                if any(e.cseq == seq and e.has_sdp for e in self._unacked.values()):
                    # RFC 3262 §3: not before the PRACK for a provisional with SDP.
                    raise SipUsageError("a reliable 1xx with SDP is not acknowledged yet")
                self._stop_reliable(seq)
                if self._invite_server_seq == seq:
                    self._invite_server_seq = None
                self._apply(DialogInput.SUCCESS)
                if sdp and not self._sdp_moved(sending=True, key=key, offer_ok=True,
                                               answer_ok=True):
                    raise SipUsageError("a session description cannot go in this 2xx")
                self._awaiting_ack[seq] = _Retransmission(
                    response, seq, now + self.t1, self.t1, T2, now + 64 * self.t1
                )
                return
            self._stop_reliable(seq)
            if self._invite_server_seq == seq:
                self._invite_server_seq = None
            self._oa_rollback(key)
            if creating:
                self._apply(DialogInput.FAILURE)
            return
        if method in ("UPDATE", "PRACK"):
            if 200 <= status < 300:
                if sdp and not self._sdp_moved(sending=True, key=key, answer_ok=True):
                    raise SipUsageError(f"no offer for this {method} response to answer")
            elif status >= 300:
                self._oa_rollback(key)

    def prepare_reliable_provisional(self, response: Response, now: float) -> Response:
        """Make a 1xx to the pending INVITE reliable (RFC 3262 §3) and return it.

        Adds ``Require: 100rel`` and the next RSeq (a random first value per INVITE, then
        one more each time), and resends it from `handle_timer` until `receive_prack`
        matches it, for 64*T1 at most.
        """
        if not 101 <= response.status <= 199 or response.cseq.method != "INVITE":
            raise SipUsageError("only a 101-199 response to an INVITE can be sent reliably")
        seq = response.cseq.seq
        if self._invite_server_seq != seq:
            raise SipUsageError("no INVITE with that CSeq is waiting for a final response")
        if not self._peer_100rel:
            raise SipUsageError("the INVITE did not offer 100rel")
        if any(e.cseq == seq for e in self._unacked.values()) and self._reliable_acked_seq != seq:
            raise SipUsageError("the first reliable provisional response is not acknowledged yet")
        if self._rseq_out is None or self._rseq_out[0] != seq:
            rseq = self._rng.randint(1, _FIRST_SEQ_MAX)
        else:
            rseq = self._rseq_out[1] + 1
        sdp = has_session_description(response)
        key: _TxnKey = (False, "INVITE", seq)
        if sdp and not self._sdp_moved(sending=True, key=key, offer_ok=True, answer_ok=True):
            raise SipUsageError("a session description cannot go in this provisional response")
        self._rseq_out = (seq, rseq)
        if "100rel" not in response.option_tags("require"):
            response.headers.add("Require", "100rel")
        response.headers.set("RSeq", str(rseq))
        self._unacked[rseq] = _Retransmission(
            response, seq, now + self.t1, self.t1, None, now + 64 * self.t1, rseq, sdp
        )
        if seq == self._initial_invite_seq:
            self._apply(DialogInput.PROVISIONAL)
        return response

    def _stop_reliable(self, seq: int) -> None:
        for rseq in [r for r, e in self._unacked.items() if e.cseq == seq]:
            del self._unacked[rseq]

    # -- receiving ---------------------------------------------------------------------------
    def receive_request(self, request: Request, now: float) -> DialogCheck:
        """Check and apply a request received in this dialog (RFC 3261 §12.2.2).

        A CSeq below the last one is answered 500; an INVITE crossing ours is answered 491,
        one arriving before we answered the previous INVITE 500 with Retry-After (§14.2);
        an UPDATE offer crossing an exchange in progress likewise (RFC 3311 §5.2). A PRACK
        is matched by `receive_prack`. An accepted INVITE or UPDATE with a Contact replaces
        the remote target; a BYE terminates the dialog.
        """
        if DialogId.of_received_request(request) != self.id:
            return DialogCheck(481)
        method = request.method
        if method == "ACK":
            self._ack_received(request)
            return DialogCheck()
        if method == "CANCEL":
            # A CANCEL carries its INVITE's CSeq and belongs to that transaction.
            return DialogCheck()
        if self.state is DialogState.TERMINATED:
            return DialogCheck(481)
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return DialogCheck(500, "CSeq out of order")
        self.remote_seq = seq
        sdp = has_session_description(request)
        if method == "INVITE":
            if self._invite_server_seq is not None or self._offer_state is OfferState.REMOTE_OFFER:
                return DialogCheck(500, None, self._rng.randint(0, 10))
            if self._invite_client_seq is not None or self._offer_state is OfferState.LOCAL_OFFER:
                return DialogCheck(491)
            self._invite_server_seq = seq
            self._peer_100rel = _peer_wants_100rel(request)
        elif method == "UPDATE" and sdp:
            if self._offer_state is OfferState.LOCAL_OFFER:
                return DialogCheck(491)
            if self._offer_state is OfferState.REMOTE_OFFER:
                return DialogCheck(500, None, self._rng.randint(0, 10))
        elif method == "PRACK":
            status = self.receive_prack(request)
            if status != 200:
                return DialogCheck(status)
        elif method == "BYE":
            self._apply(DialogInput.BYE)
            return DialogCheck()
        if method in TARGET_REFRESH_METHODS and request.contacts:
            self.remote_target = request.contacts[0].uri
        if sdp and method in ("INVITE", "UPDATE", "PRACK"):
            self._sdp_moved(sending=False, key=(False, method, seq), offer_ok=True,
                            answer_ok=method == "PRACK")
        return DialogCheck()

    def receive_prack(self, prack: Request) -> int:
        """Match a PRACK to an unacknowledged reliable provisional response (RFC 3262 §3).

        200 if its RAck names one (which then stops being resent), 481 if not, 400 for a
        missing or malformed RAck. `receive_request` calls this; do not call both.
        """
        parts = (prack.headers.get("rack") or "").split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return 400
        rseq, seq, method = int(parts[0]), int(parts[1]), parts[2]
        entry = self._unacked.get(rseq)
        if entry is None or entry.cseq != seq or method != "INVITE":
            return 481
        del self._unacked[rseq]
        self._reliable_acked_seq = seq
        return 200

    def _ack_received(self, ack: Request) -> None:
        seq = ack.cseq.seq
        if self._awaiting_ack.pop(seq, None) is None:
            return  # a retransmitted ACK, or one for a 2xx someone else sent
        key: _TxnKey = (False, "INVITE", seq)
        if has_session_description(ack):
            self._sdp_moved(sending=False, key=key, answer_ok=True)
        else:
            # An offer in our 2xx that the ACK leaves unanswered is void (§13.2.1).
            self._oa_rollback(key)

    def receive_response(self, response: Response, now: float) -> bool:
        """Apply a response to a request this dialog sent (RFC 3261 §12.2.1.2, §13.2.2.4).

        Returns False when the response changes nothing: a 100, a retransmitted 2xx (send
        the same ACK again), a retransmitted or out-of-order reliable 1xx, or a response on
        a terminated dialog. Raises `SipUsageError` for a response of another dialog.
        """
        if response.status <= 100 or self.state is DialogState.TERMINATED:
            return False
        if DialogId.of_received_response(response) != self.id:
            raise SipUsageError("the response belongs to another dialog")
        method = response.cseq.method
        if method == "INVITE":
            return self._invite_response(response)
        status, key = response.status, (True, method, response.cseq.seq)
        if 200 <= status < 300:
            if method in TARGET_REFRESH_METHODS and response.contacts:
                self.remote_target = response.contacts[0].uri
            if has_session_description(response) and method in ("UPDATE", "PRACK"):
                self._sdp_moved(sending=False, key=key, answer_ok=True)
        elif status >= 300:
            self._oa_rollback(key)
            if status in (408, 481):
                self._apply(DialogInput.GONE)
        return True

    def _invite_response(self, response: Response) -> bool:
        status, seq = response.status, response.cseq.seq
        key: _TxnKey = (True, "INVITE", seq)
        creating = seq == self._initial_invite_seq and self.is_uac
        if status < 200:
            if creating:
                self._apply(DialogInput.PROVISIONAL)
            if is_reliable_provisional(response):
                return self._accept_reliable(response)
            return True
        if status < 300:
            if self._last_2xx_invite_seq == seq:
                return False
            if creating and self.state is DialogState.EARLY:
                # §13.2.2.4: the 2xx that confirms an early dialog recomputes its route set.
                self.route_set = list(reversed(_record_route_values(response)))
            self._invite_2xx_seen(seq)
            self._apply(DialogInput.SUCCESS)
            if response.contacts:
                self.remote_target = response.contacts[0].uri
            if has_session_description(response):
                self._sdp_moved(sending=False, key=key, offer_ok=True, answer_ok=True)
            return True
        if self._invite_client_seq == seq:
            self._invite_client_seq = None
        self._forget_reliable(seq)
        self._oa_rollback(key)
        if creating and self.state is DialogState.EARLY:
            self._apply(DialogInput.FAILURE)
        elif status in (408, 481):
            self._apply(DialogInput.GONE)
        return True

    def _invite_2xx_seen(self, seq: int) -> None:
        self._last_2xx_invite_seq = seq
        if self._invite_client_seq == seq:
            self._invite_client_seq = None
        self._forget_reliable(seq)

    def _forget_reliable(self, seq: int) -> None:
        # RFC 3262 §4: the RSeq is kept until the final response to its INVITE.
        if self._rseq_in is not None and self._rseq_in[0] == seq:
            self._rseq_in = None
        self._prack_owed = {k for k in self._prack_owed if k[1] != seq}

    def _accept_reliable(self, response: Response) -> bool:
        """Take a reliable 1xx if its RSeq is the next in order (RFC 3262 §4)."""
        rseq = _rseq_of(response)
        seq = response.cseq.seq
        if rseq is None or self._last_2xx_invite_seq == seq:
            return False
        last = self._rseq_in[1] if self._rseq_in is not None and self._rseq_in[0] == seq else None
        if last is not None and rseq != last + 1:
            # A retransmission (not above the last) or a gap: neither is processed further.
            return False
        self._rseq_in = (seq, rseq)
        self._prack_owed.add((rseq, seq))
        if self.state is DialogState.EARLY and response.contacts:
            self.remote_target = response.contacts[0].uri
        if has_session_description(response):
            self._sdp_moved(sending=False, key=(True, "INVITE", seq), offer_ok=True,
                            answer_ok=True)
        return True

    # -- timers ------------------------------------------------------------------------------
    def reliable_provisional_timer(self) -> float | None:
        """When the next reliable provisional response is due again, or gives up."""
        return min((min(e.next_at, e.give_up_at) for e in self._unacked.values()), default=None)

    def get_timer(self) -> float | None:
        """The earliest time `handle_timer` has work: reliable 1xx or 2xx retransmissions."""
        times = [min(e.next_at, e.give_up_at) for e in self._awaiting_ack.values()]
        reliable = self.reliable_provisional_timer()
        if reliable is not None:
            times.append(reliable)
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[Response]:
        """The responses to send again now; timeouts are queued as events.

        A reliable 1xx is resent after T1, 2*T1, 4*T1 ... (RFC 3262 §3), a 2xx after T1,
        2*T1 ... capped at T2 (§13.3.1.4); both give up after 64*T1.
        """
        out: list[Response] = []
        for table in (self._unacked, self._awaiting_ack):
            for key, entry in list(table.items()):
                if now >= entry.give_up_at:
                    del table[key]
                    if entry.rseq:
                        self._events.append(ReliableProvisionalTimedOut(entry.cseq, entry.rseq))
                    else:
                        self._events.append(AckTimedOut(entry.cseq))
                    continue
                if now < entry.next_at:
                    continue
                out.append(entry.response)
                doubled = entry.interval * 2
                entry.interval = doubled if entry.cap is None else min(doubled, entry.cap)
                entry.next_at += entry.interval
                if entry.next_at <= now:
                    # Woken late: keep the spacing rather than bursting to catch up.
                    entry.next_at = now + entry.interval
        return out

    def next_event(self) -> DialogEvent | None:
        return self._events.popleft() if self._events else None

    # -- state changes -----------------------------------------------------------------------
    def _apply(self, event: DialogInput) -> None:
        self.state = DIALOG_TRANSITIONS[(self.state, event)]
        if self.state is DialogState.TERMINATED:
            # Nothing is resent or acknowledged on a dialog that is gone.
            self._unacked.clear()
            self._awaiting_ack.clear()
            self._prack_owed.clear()

    def _sdp_moved(
        self,
        *,
        sending: bool,
        key: _TxnKey,
        offer_ok: bool = False,
        answer_ok: bool = False,
    ) -> bool:
        """Advance the offer/answer table for a session description in transaction ``key``.

        Whether the description is an offer or an answer follows from the state; the
        message kind says which of the two it may be. Returns False when it is neither
        (a repeated answer, or the peer breaking the rules).
        """
        if key[1] == "INVITE" and key == self._invite_oa_done:
            return True  # RFC 3262 §5: later SDP in the same INVITE repeats the answer
        is_offer = self._offer_state is OfferState.STABLE
        if not (offer_ok if is_offer else answer_ok):
            return False
        if not is_offer and self._offer_origin is not None:
            origin = self._offer_origin
            # An answer comes in the offer's own transaction, except the PRACK that answers
            # an offer in a reliable provisional response.
            prack_answer = key[1] == "PRACK" and origin[1] == "INVITE" and origin[0] == key[0]
            if origin != key and not prack_answer:
                return False
        if sending:
            event = OfferInput.SEND_OFFER if is_offer else OfferInput.SEND_ANSWER
        else:
            event = OfferInput.RECEIVE_OFFER if is_offer else OfferInput.RECEIVE_ANSWER
        following = OFFER_TRANSITIONS.get((self._offer_state, event))
        if following is None:
            return False
        self._offer_state = following
        if is_offer:
            self._offer_origin = key
        else:
            if self._offer_origin is not None and self._offer_origin[1] == "INVITE":
                self._invite_oa_done = self._offer_origin
            self._offer_origin = None
        return True

    def _oa_rollback(self, key: _TxnKey) -> None:
        """A failed transaction takes its unanswered offer with it (RFC 3261 §14.1)."""
        if self._offer_origin == key:
            self._offer_state = OfferState.STABLE
            self._offer_origin = None
