"""Registrar decisions: what a REGISTER does to the bindings of an address-of-record.

Implements RFC 3261 §10.3 (processing REGISTER requests: wildcard removal, Expires header and
parameter, 423 Interval Too Brief with Min-Expires, Call-ID/CSeq ordering, q-values), RFC 3327
(Path kept with each binding and echoed when the UA supports it) and the binding fields of
RFC 5626 (+sip.instance, reg-id). Pure: the current bindings and ``now`` come in, the new
bindings and the answer go out; storing them is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycc.sip.errors import SipParseError
from pycc.sip.headers import format_params, parse_uint, unquote_param
from pycc.sip.message import Request
from pycc.sip.uri import SipUri


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 7200
    max_contacts: int = 10


_DEFAULT_POLICY = RegistrarPolicy()


@dataclass(slots=True)
class Binding:
    """One contact bound to an address-of-record."""

    contact: str  # the contact URI exactly as registered (URI parameters and headers kept)
    expires_at: float
    q: float = 1.0
    call_id: str = ""
    cseq: int = 0
    path: list[str] = field(default_factory=list)
    received: str | None = None  # "transport:host:port" the REGISTER came from
    instance_id: str | None = None
    reg_id: int | None = None
    user_agent: str | None = None

    def expires_in(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(slots=True)
class RegisterOutcome:
    """The result of one REGISTER: an error status, or the changes and the 200's Contacts."""

    status: int = 200
    reason: str = "OK"
    upserts: list[Binding] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)  # Contact values for the 200 OK
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


def aor_of(request: Request) -> str:
    """The address-of-record key of a REGISTER (its To URI, canonical)."""
    uri = request.to.uri
    if not isinstance(uri, SipUri):
        raise SipParseError("To header of a REGISTER must be a SIP or SIPS URI")
    return uri.aor()


@dataclass(frozen=True, slots=True)
class RegisteredContact:
    """One Contact of a REGISTER as the registrar needs it: the URI exactly as bound and the
    parameters it reads, still as text (their errors are the registrar's to answer)."""

    key: str  # the contact URI as written (URI parameters and headers kept)
    is_sip: bool
    expires: str | None = None
    q: str | None = None
    instance: str | None = None
    reg_id: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterRequest:
    """What §10.3 steps 5-8 read of a REGISTER, in plain values.

    Made from a parsed request by `register_request`; plain enough to cross a process
    boundary as a tuple (`as_tuple`, `from_tuple`), so that a REGISTER parsed and
    authenticated elsewhere is decided against the bindings where they live.
    """

    call_id: str
    cseq: int
    expires: int | None  # the Expires header
    star: bool  # the only Contact is "*"
    star_mixed: bool  # "*" among other Contacts
    contacts: tuple[RegisteredContact, ...]
    path: tuple[str, ...] = ()
    path_supported: bool = False
    user_agent: str | None = None

    def as_tuple(self) -> tuple[object, ...]:
        return (self.call_id, self.cseq, self.expires, self.star, self.star_mixed,
                tuple((c.key, c.is_sip, c.expires, c.q, c.instance, c.reg_id)
                      for c in self.contacts),
                self.path, self.path_supported, self.user_agent)

    @classmethod
    def from_tuple(cls, value: tuple[object, ...]) -> RegisterRequest:
        """The inverse of `as_tuple`; raises ValueError on anything else."""
        try:
            return cls._from_tuple(value)
        except TypeError as exc:
            raise ValueError(f"malformed register request: {exc}") from None

    @classmethod
    def _from_tuple(cls, value: tuple[object, ...]) -> RegisterRequest:
        call_id, cseq, expires, star, star_mixed, contacts, path, supported, agent = value
        if not all(isinstance(flag, bool) for flag in (star, star_mixed, supported)):
            raise ValueError("malformed register request flags")
        if not (isinstance(call_id, str) and isinstance(cseq, int)
                and (expires is None or isinstance(expires, int))
                and isinstance(contacts, tuple | list) and isinstance(path, tuple | list)
                and (agent is None or isinstance(agent, str))):
            raise ValueError("malformed register request")
        parsed = []
        for item in contacts:
            if not isinstance(item, tuple | list):
                raise ValueError("malformed register contact")
            key, is_sip, c_expires, q, instance, reg_id = item
            if not isinstance(key, str) or not isinstance(is_sip, bool) or not all(
                    v is None or isinstance(v, str) for v in (c_expires, q, instance, reg_id)):
                raise ValueError("malformed register contact")
            parsed.append(RegisteredContact(key, bool(is_sip), c_expires, q, instance, reg_id))
        if not all(isinstance(p, str) for p in path):
            raise ValueError("malformed register path")
        return cls(call_id, cseq, expires, bool(star), bool(star_mixed), tuple(parsed),
                   tuple(str(p) for p in path), bool(supported), agent)


def register_request(request: Request) -> RegisterRequest:
    """Read what the registrar needs of ``request``; raises SipParseError as the headers'
    own parsers do (a malformed Expires, Contact or CSeq)."""
    star = request.contact_is_star
    contacts: list[RegisteredContact] = []
    star_mixed = False
    if not star:
        star_mixed = "*" in request.headers.values("contact")
        if not star_mixed:
            for contact in request.contacts:
                params = contact.params
                contacts.append(RegisteredContact(
                    str(contact.uri), isinstance(contact.uri, SipUri), params.get("expires"),
                    params.get("q"), params.get("+sip.instance"), params.get("reg-id")))
    path = tuple(request.headers.values("path"))
    return RegisterRequest(
        call_id=request.call_id,
        cseq=request.cseq.seq,
        expires=request.expires,
        star=star,
        star_mixed=star_mixed,
        contacts=tuple(contacts),
        path=path,
        path_supported=bool(path) and "path" in request.option_tags("supported"),
        user_agent=request.headers.get("user-agent"),
    )


def process_register(
    request: Request | RegisterRequest,
    current: list[Binding],
    now: float,
    *,
    received: str | None = None,
    policy: RegistrarPolicy = _DEFAULT_POLICY,
) -> RegisterOutcome:
    """Apply RFC 3261 §10.3 steps 5-8 to ``current`` (the unexpired bindings of the AOR)."""
    view = request if isinstance(request, RegisterRequest) else register_request(request)
    header_expires = view.expires
    by_contact = {b.contact: b for b in current}
    call_id = view.call_id
    cseq = view.cseq

    if view.star:
        # Step 6: "*" only with Expires: 0 and as the only Contact.
        if header_expires != 0:
            return RegisterOutcome(400, "Wildcard Contact requires Expires: 0")
        for binding in current:
            if binding.call_id == call_id and binding.cseq >= cseq:
                return RegisterOutcome(500, "Out of order CSeq for this Call-ID")
        return RegisterOutcome(removals=[b.contact for b in current])
    if view.star_mixed:
        return RegisterOutcome(400, "Wildcard Contact mixed with other contacts")

    contacts = view.contacts
    if len(contacts) > policy.max_contacts:
        return RegisterOutcome(403, "Too many contacts in one REGISTER")
    upserts: list[Binding] = []
    removals: list[str] = []
    path = list(view.path)
    for contact in contacts:
        if not contact.is_sip:
            return RegisterOutcome(400, "Contact must be a SIP or SIPS URI")
        expires = _contact_expires(contact, header_expires, policy)
        if 0 < expires < policy.min_expires:
            return RegisterOutcome(
                423,
                "Interval Too Brief",
                extra_headers=[("Min-Expires", str(policy.min_expires))],
            )
        key = contact.key
        existing = by_contact.get(key)
        if existing is not None and existing.call_id == call_id and existing.cseq >= cseq:
            return RegisterOutcome(500, "Out of order CSeq for this Call-ID")
        if expires == 0:
            removals.append(key)
            continue
        q = _q_value(contact)
        reg_id_text = contact.reg_id
        upserts.append(
            Binding(
                contact=key,
                expires_at=now + min(expires, policy.max_expires),
                q=q,
                call_id=call_id,
                cseq=cseq,
                path=list(path),
                received=received,
                instance_id=unquote_param(contact.instance),
                reg_id=int(reg_id_text) if reg_id_text and reg_id_text.isdigit() else None,
                user_agent=view.user_agent,
            )
        )
    # The 200 lists every binding the AOR has after the change (§10.3 step 8).
    after = {b.contact: b for b in current if b.contact not in removals}
    for binding in upserts:
        after[binding.contact] = binding
    outcome = RegisterOutcome(upserts=upserts, removals=removals)
    for binding in sorted(after.values(), key=lambda b: -b.q):
        params: dict[str, str | None] = {"expires": str(binding.expires_in(now))}
        if binding.q != 1.0:
            params["q"] = f"{binding.q:g}"
        outcome.contacts.append(f"<{binding.contact}>{format_params(params)}")
    if view.path_supported:
        outcome.extra_headers.extend(("Path", p) for p in path)
    return outcome


def _contact_expires(contact: RegisteredContact, header: int | None,
                     policy: RegistrarPolicy) -> int:
    value = contact.expires
    if value is not None:
        return parse_uint(value, "Contact expires")
    if header is not None:
        return header
    return policy.default_expires


def _q_value(contact: RegisteredContact) -> float:
    text = contact.q
    if text is None:
        return 1.0
    try:
        q = float(text)
    except ValueError:
        raise SipParseError("Malformed q-value in Contact") from None
    if not 0.0 <= q <= 1.0:
        raise SipParseError("q-value out of range in Contact")
    return q
