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
from pycc.sip.headers import NameAddr, format_params, parse_uint, unquote_param
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


def process_register(
    request: Request,
    current: list[Binding],
    now: float,
    *,
    received: str | None = None,
    policy: RegistrarPolicy = _DEFAULT_POLICY,
) -> RegisterOutcome:
    """Apply RFC 3261 §10.3 steps 5-8 to ``current`` (the unexpired bindings of the AOR)."""
    header_expires = request.expires
    by_contact = {b.contact: b for b in current}
    call_id = request.call_id
    cseq = request.cseq.seq

    if request.contact_is_star:
        # Step 6: "*" only with Expires: 0 and as the only Contact.
        if header_expires != 0:
            return RegisterOutcome(400, "Wildcard Contact requires Expires: 0")
        for binding in current:
            if binding.call_id == call_id and binding.cseq >= cseq:
                return RegisterOutcome(500, "Out of order CSeq for this Call-ID")
        return RegisterOutcome(removals=[b.contact for b in current])
    if "*" in request.headers.values("contact"):
        return RegisterOutcome(400, "Wildcard Contact mixed with other contacts")

    contacts = request.contacts
    if len(contacts) > policy.max_contacts:
        return RegisterOutcome(403, "Too many contacts in one REGISTER")
    upserts: list[Binding] = []
    removals: list[str] = []
    path = request.headers.values("path")
    for contact in contacts:
        if not isinstance(contact.uri, SipUri):
            return RegisterOutcome(400, "Contact must be a SIP or SIPS URI")
        expires = _contact_expires(contact, header_expires, policy)
        if 0 < expires < policy.min_expires:
            return RegisterOutcome(
                423,
                "Interval Too Brief",
                extra_headers=[("Min-Expires", str(policy.min_expires))],
            )
        key = str(contact.uri)
        existing = by_contact.get(key)
        if existing is not None and existing.call_id == call_id and existing.cseq >= cseq:
            return RegisterOutcome(500, "Out of order CSeq for this Call-ID")
        if expires == 0:
            removals.append(key)
            continue
        q = _q_value(contact)
        reg_id_text = contact.params.get("reg-id")
        upserts.append(
            Binding(
                contact=key,
                expires_at=now + min(expires, policy.max_expires),
                q=q,
                call_id=call_id,
                cseq=cseq,
                path=list(path),
                received=received,
                instance_id=unquote_param(contact.params.get("+sip.instance")),
                reg_id=int(reg_id_text) if reg_id_text and reg_id_text.isdigit() else None,
                user_agent=request.headers.get("user-agent"),
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
    if path and "path" in request.option_tags("supported"):
        outcome.extra_headers.extend(("Path", p) for p in path)
    return outcome


def _contact_expires(contact: NameAddr, header: int | None, policy: RegistrarPolicy) -> int:
    value = contact.params.get("expires")
    if value is not None:
        return parse_uint(value, "Contact expires")
    if header is not None:
        return header
    return policy.default_expires


def _q_value(contact: NameAddr) -> float:
    text = contact.params.get("q")
    if text is None:
        return 1.0
    try:
        q = float(text)
    except ValueError:
        raise SipParseError("Malformed q-value in Contact") from None
    if not 0.0 <= q <= 1.0:
        raise SipParseError("q-value out of range in Contact")
    return q
