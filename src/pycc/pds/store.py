"""The dialer's durable records: `DialerStore` imports, claims and settles contacts.

Every method is one transaction on the tables of :mod:`pycc.store.dialer_models`, committed
whole or not at all, and synchronous like :class:`pycc.store.Store` (the live dialer calls it
through ``AsyncStore.run``). A `DialerStore` works in one tenant's campaigns.

- `import_contacts` writes all the good rows of an `ImportReport` or none; rows whose external
  id the campaign has already are skipped, so importing a list twice adds nothing.
- `claim` picks the contacts to dial now, at most ``limit``: those ready, due for a retry or
  a scheduled callback, scheduled callbacks first, then by priority (higher first), then by
  ``next_at`` and id. A contact outside its calling window is deferred to the window's next
  opening; one on the tenant's do-not-call list or refused by the caller's ``blocked`` check
  (the blacklist) at this moment is closed as ``blocked``. Each claimed contact becomes
  ``dialing`` with a new attempt row in the same transaction, so two claims never return the
  same contact: on PostgreSQL the rows are taken with ``SELECT ... FOR UPDATE SKIP LOCKED``
  (another node's claim skips them), and SQLite serialises writers. Caller IDs turn
  round-robin by attempt id, which every node shares.
- `finish` closes an attempt with its result and moves the contact by
  :func:`pycc.pds.states.settle` and the campaign's retry rules; finishing an attempt again
  changes nothing. `mark_answered` and `mark_connected` record progress while the call is up,
  so that `recover`, run when a node starts again after a crash, can tell the calls that had
  reached an agent (kept done: nothing connected is dialed again) from the rest (closed as
  ``failed``, note "interrupted", and rescheduled by the retry rules).

Database failures raise :class:`pycc.store.StoreError`; a campaign, attempt or contact that
does not exist raises :class:`pycc.store.NotFound`; an event the contact's state does not
allow raises :class:`pycc.pds.states.TransitionError` and writes nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from sqlalchemy import case, func, insert
from sqlmodel import Session, col, select

from pycc.pds.campaign import CampaignConfig, CampaignError
from pycc.pds.contacts import ImportReport
from pycc.pds.states import (
    CALLABLE_STATES,
    FINAL_RESULTS,
    IN_CALL_STATES,
    ContactEvent,
    ContactState,
    Settlement,
    next_state,
    settle,
)
from pycc.pds.windows import WindowError, may_call, next_opening
from pycc.store.dialer_models import DialerAttempt, DialerCampaign, DialerContact, DialerDnc
from pycc.store.errors import NotFound, StoreError
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = [
    "CAMPAIGN_STATES",
    "Claim",
    "DialerStore",
    "ImportResult",
    "Outcome",
    "RecoverResult",
]

#: Values of the campaign's ``state``.
CAMPAIGN_STATES: Final = ("running", "stopped")
#: Rows per INSERT or IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK: Final = 500
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_INTERRUPTED: Final = "interrupted"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Contacts added by an import, and good rows skipped because their id was there."""

    added: int
    skipped_existing: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A contact to dial now, and the attempt opened for it.

    ``attempt`` counts this contact's attempts (1 for the first call); ``callback_agent`` is
    the agent who asked for this callback, if any; ``fields`` are the custom columns that
    travel with the call to the agent.
    """

    attempt_id: int
    contact_id: int
    campaign: str
    external_id: str
    phone: str
    caller_id: str | None
    zone: str
    name: str | None
    priority: int
    attempt: int
    fields: Mapping[str, str] = field(default_factory=dict)
    callback_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a finished attempt left its contact; ``changed`` is False when the attempt had
    been finished before (nothing was written)."""

    contact_id: int
    state: str
    result: str
    next_at: float | None
    changed: bool


@dataclass(frozen=True, slots=True)
class RecoverResult:
    """Attempts closed after a crash: ``failed`` ones (rescheduled or done by the retry
    rules) and ``connected`` ones (kept done)."""

    failed: int
    connected: int


class DialerStore:
    """The dialer's campaigns, contacts, attempts and do-not-call lists in ``store``'s
    database, for campaigns of ``tenant``."""

    def __init__(self, store: Store, tenant: str = "default") -> None:
        self.store = store
        self.tenant = tenant

    # -- campaigns ---------------------------------------------------------------------------

    def save_campaign(self, config: CampaignConfig, now: float | None = None) -> bool:
        """Store ``config`` as campaign ``config.name`` (a new one is stopped); True if it
        was created. A template is no campaign and is refused with `ValueError`."""
        if config.is_template:
            raise ValueError(f"campaign {config.name!r} is a template: it cannot be dialed")
        text = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
        stamp = _now(now)

        def work(session: Session) -> bool:
            tenant_id = self._tenant_id(session)
            row = session.exec(select(DialerCampaign).where(
                DialerCampaign.tenant_id == tenant_id,
                DialerCampaign.name == config.name)).first()
            if row is None:
                session.add(DialerCampaign(tenant_id=tenant_id, name=config.name, config=text,
                                           created=stamp, updated=stamp))
                return True
            if row.config != text:
                row.config = text
                row.updated = stamp
                session.add(row)
            return False

        return self._write(work)

    def get_campaign(self, name: str) -> CampaignConfig:
        """The stored settings of campaign ``name``."""
        return self._read(lambda session: _config(self._campaign(session, name)))

    def campaign_names(self) -> list[str]:
        """The tenant's dialer campaigns, by name."""

        def work(session: Session) -> list[str]:
            tenant_id = self._tenant_id(session)
            return list(session.exec(select(DialerCampaign.name).where(
                DialerCampaign.tenant_id == tenant_id).order_by(col(DialerCampaign.name))))

        return self._read(work)

    def campaign_state(self, name: str) -> str:
        """``running`` or ``stopped``."""
        return self._read(lambda session: self._campaign(session, name).state)

    def set_campaign_state(self, name: str, state: str, now: float | None = None) -> None:
        """Mark campaign ``name`` running or stopped."""
        if state not in CAMPAIGN_STATES:
            raise ValueError(f"unknown campaign state {state!r} (running or stopped)")
        stamp = _now(now)

        def work(session: Session) -> None:
            row = self._campaign(session, name)
            if row.state != state:
                row.state = state
                row.updated = stamp
                session.add(row)

        self._write(work)

    def campaign_status(self, campaign: str) -> dict[str, int]:
        """How many contacts are in each state (every state named, zeros too), and
        ``total``."""

        def work(session: Session) -> dict[str, int]:
            row = self._campaign(session, campaign)
            found = session.exec(
                select(DialerContact.state, func.count())
                .where(DialerContact.campaign_id == row.id).group_by(DialerContact.state))
            status = {state.value: 0
                      for state in (*CALLABLE_STATES, *IN_CALL_STATES, ContactState.DONE)}
            for state, count in found:
                status[state] = status.get(state, 0) + int(count)
            status["total"] = sum(status.values())
            return status

        return self._read(work)

    def campaigns_overview(self) -> dict[str, tuple[CampaignConfig, dict[str, int]]]:
        """Every dialer campaign of the tenant by name: its stored settings and its contacts
        by state (as `campaign_status` counts them), in one read."""

        def work(session: Session) -> dict[str, tuple[CampaignConfig, dict[str, int]]]:
            rows = list(session.exec(select(DialerCampaign).join(Tenant).where(
                Tenant.name == self.tenant)))
            counts: dict[int, dict[str, int]] = {}
            for campaign_id, state, count in session.exec(
                    select(DialerContact.campaign_id, DialerContact.state, func.count())
                    .where(col(DialerContact.campaign_id).in_([row.id for row in rows]))
                    .group_by(col(DialerContact.campaign_id), col(DialerContact.state))):
                counts.setdefault(campaign_id, {})[state] = int(count)
            overview = {}
            for row in rows:
                status = {state.value: 0
                          for state in (*CALLABLE_STATES, *IN_CALL_STATES, ContactState.DONE)}
                for state, count in counts.get(row.id or 0, {}).items():
                    status[state] = status.get(state, 0) + count
                status["total"] = sum(status.values())
                overview[row.name] = (_config(row), status)
            return overview

        return self._read(work)

    # -- contacts ----------------------------------------------------------------------------

    def import_contacts(self, campaign: str, report: ImportReport,
                        now: float | None = None) -> ImportResult:
        """Add the good rows of ``report`` to ``campaign`` in one transaction: all of them
        or, on any failure, none. Rows whose external id is there already are skipped."""
        stamp = _now(now)

        def work(session: Session) -> ImportResult:
            campaign_id = _id(self._campaign(session, campaign))
            ids = [row.external_id for row in report.good]
            present: set[str] = set()
            for some_ids in _chunks(ids):
                present.update(session.exec(select(DialerContact.external_id).where(
                    DialerContact.campaign_id == campaign_id,
                    col(DialerContact.external_id).in_(some_ids))))
            rows = [{
                "campaign_id": campaign_id, "external_id": row.external_id,
                "phone": row.phone, "zone": row.zone, "name": row.name,
                "priority": row.priority, "fields": json.dumps(dict(row.fields)),
                "state": ContactState.READY.value, "attempts": 0, "tries": "{}",
                "next_at": stamp, "line": row.line, "imported": stamp, "updated": stamp,
            } for row in report.good if row.external_id not in present]
            table: Any = DialerContact.__table__  # type: ignore[attr-defined]
            for chunk in _chunks(rows):
                session.connection().execute(insert(table), chunk)
            return ImportResult(len(rows), len(report.good) - len(rows))

        return self._write(work)

    def claim(self, campaign: str, limit: int, now: float, *,
              blocked: Callable[[str], bool] | None = None, node: str = "") -> list[Claim]:
        """Take up to ``limit`` contacts of ``campaign`` to dial now (see the module
        docstring); ``blocked(number)`` is the blacklist check at dial time, ``node`` names
        the node placing the calls."""
        if limit <= 0:
            return []

        def work(session: Session) -> list[Claim]:
            row = self._campaign(session, campaign)
            config = _config(row)
            tenant_id, campaign_id = row.tenant_id, _id(row)
            claims: list[Claim] = []
            while len(claims) < limit:
                batch = max(2 * (limit - len(claims)), 16)
                contacts = list(session.exec(
                    select(DialerContact)
                    .where(DialerContact.campaign_id == campaign_id,
                           col(DialerContact.state).in_([s.value for s in CALLABLE_STATES]),
                           DialerContact.next_at <= now)
                    .order_by(case((col(DialerContact.state) == ContactState.SCHEDULED.value,
                                    0), else_=1),
                              col(DialerContact.priority).desc(), col(DialerContact.next_at),
                              col(DialerContact.id))
                    .limit(batch).with_for_update(skip_locked=True)))
                if not contacts:
                    break
                dnc = _dnc_of(session, tenant_id, [contact.phone for contact in contacts])
                for contact in contacts:
                    if len(claims) == limit:
                        break
                    claim = self._take(session, contact, config, now, dnc, blocked, node)
                    if claim is not None:
                        claims.append(claim)
                if len(contacts) < batch:
                    break
            return claims

        return self._write(work)

    def _take(self, session: Session, contact: DialerContact, config: CampaignConfig,
              now: float, dnc: set[str], blocked: Callable[[str], bool] | None,
              node: str) -> Claim | None:
        """Dial, block or defer one contact; the claim when it is dialed."""
        if contact.phone in dnc or (blocked is not None and blocked(contact.phone)):
            contact.state = next_state(contact.state, ContactEvent.BLOCK).value
            contact.result = "blocked"
            contact.updated = now
            session.add(contact)
            return None
        zone = contact.zone
        try:
            allowed = may_call(zone, config.window, now)
        except WindowError:
            zone = config.timezone  # a zone this system no longer knows
            allowed = may_call(zone, config.window, now)
        if not allowed:
            # Not again before the window opens: later claims skip it without computing.
            contact.next_at = max(next_opening(zone, config.window, now), now + 1.0)
            session.add(contact)
            return None
        callback_agent = contact.callback_agent \
            if contact.state == ContactState.SCHEDULED.value else None
        contact.state = next_state(contact.state, ContactEvent.DIAL).value
        contact.attempts += 1
        contact.updated = now
        session.add(contact)
        attempt = DialerAttempt(campaign_id=contact.campaign_id, contact_id=_id(contact),
                                number=contact.phone, started=now, node=node)
        session.add(attempt)
        session.flush()
        if config.caller_ids:
            attempt.caller_id = config.caller_ids[_id(attempt) % len(config.caller_ids)]
            session.add(attempt)
        return Claim(attempt_id=_id(attempt), contact_id=_id(contact), campaign=config.name,
                     external_id=contact.external_id, phone=contact.phone,
                     caller_id=attempt.caller_id, zone=contact.zone, name=contact.name,
                     priority=contact.priority, attempt=contact.attempts,
                     fields=json.loads(contact.fields), callback_agent=callback_agent)

    def mark_answered(self, attempt_id: int, now: float) -> bool:
        """The customer answered; False (nothing written) if the attempt was past that."""

        def work(session: Session) -> bool:
            attempt, contact = _attempt_and_contact(session, attempt_id)
            if attempt.ended is not None or contact.state != ContactState.DIALING.value:
                return False
            contact.state = next_state(contact.state, ContactEvent.ANSWER).value
            contact.updated = now
            attempt.answered = now
            session.add_all([attempt, contact])
            return True

        return self._write(work)

    def mark_connected(self, attempt_id: int, now: float, agent: str | None = None) -> bool:
        """An agent took the call: from now on the contact counts as reached. False (nothing
        written) if the attempt had ended or was connected already."""

        def work(session: Session) -> bool:
            attempt, contact = _attempt_and_contact(session, attempt_id)
            if attempt.ended is not None or contact.state == ContactState.CONNECTED.value:
                return False
            if contact.state == ContactState.DIALING.value:
                contact.state = next_state(contact.state, ContactEvent.ANSWER).value
                attempt.answered = now
            contact.state = next_state(contact.state, ContactEvent.CONNECT).value
            contact.updated = now
            attempt.connected = now
            if agent is not None:
                attempt.agent = agent
            session.add_all([attempt, contact])
            return True

        return self._write(work)

    def finish(self, attempt_id: int, result: str, now: float, *,
               sip_status: int | None = None, agent: str | None = None,
               call_id: str | None = None) -> Outcome:
        """Close attempt ``attempt_id`` with ``result`` (one of
        :data:`pycc.pds.states.FINAL_RESULTS`) and move its contact on. Idempotent: an
        attempt finished before is left as it is (``Outcome.changed`` is False)."""
        if result not in FINAL_RESULTS:
            raise ValueError(f"unknown result {result!r} (one of {', '.join(FINAL_RESULTS)})")

        def work(session: Session) -> Outcome:
            attempt, contact = _attempt_and_contact(session, attempt_id)
            return _finish(session, attempt, contact, result, now, sip_status=sip_status,
                           agent=agent, call_id=call_id)

        return self._write(work)

    def release(self, attempt_id: int, now: float, *, after: float = 0.0,
                note: str | None = None) -> bool:
        """Give back a claimed contact that was not dialed after all (a preview the agent
        passed on): the attempt ends ``skipped`` and does not count, and the contact may be
        claimed again ``after`` seconds from ``now``. False if the attempt had ended."""

        def work(session: Session) -> bool:
            attempt, contact = _attempt_and_contact(session, attempt_id)
            if attempt.ended is not None or contact.state != ContactState.DIALING.value:
                return False
            contact.state = next_state(contact.state, ContactEvent.SKIP).value
            contact.attempts = max(0, contact.attempts - 1)
            contact.next_at = now + after
            contact.updated = now
            attempt.ended = now
            attempt.result = "skipped"
            if note is not None:
                attempt.note = note
            session.add_all([attempt, contact])
            return True

        return self._write(work)

    def recover(self, campaign: str, now: float, *, node: str | None = None) -> RecoverResult:
        """Close the attempts of ``campaign`` left open by a crash (only ``node``'s, if
        given: other nodes' calls may be up). Call it before dialing again."""

        def work(session: Session) -> RecoverResult:
            row = self._campaign(session, campaign)
            statement = select(DialerAttempt).where(
                DialerAttempt.campaign_id == row.id,
                col(DialerAttempt.ended).is_(None)).order_by(col(DialerAttempt.id))
            if node is not None:
                statement = statement.where(DialerAttempt.node == node)
            failed = connected = 0
            for attempt in list(session.exec(statement.with_for_update())):
                contact = _contact(session, attempt.contact_id)
                reached = attempt.connected is not None or \
                    contact.state == ContactState.CONNECTED.value
                result = "connected" if reached else "failed"
                _finish(session, attempt, contact, result, now,
                        note=None if reached else _INTERRUPTED)
                if reached:
                    connected += 1
                else:
                    failed += 1
            return RecoverResult(failed, connected)

        return self._write(work)

    def schedule_callback(self, contact: int, at: float, agent: str | None = None, *,
                          priority: int | None = None, now: float | None = None) -> None:
        """Call contact ``contact`` back at ``at`` (epoch seconds), by ``agent`` if given. A
        contact whose call is up is scheduled when that call ends."""
        stamp = _now(now)

        def work(session: Session) -> None:
            row = _contact(session, contact)
            if row.state in IN_CALL_STATES:
                row.callback_at = at
            else:
                row.state = next_state(row.state, ContactEvent.CALLBACK).value
                row.next_at = at
            row.callback_agent = agent
            if priority is not None:
                row.priority = priority
            row.updated = stamp
            session.add(row)

        self._write(work)

    def find_contact(self, campaign: str, external_id: str) -> int:
        """The id of the contact of ``campaign`` imported with ``external_id``."""

        def work(session: Session) -> int:
            row = self._campaign(session, campaign)
            found = session.exec(select(DialerContact.id).where(
                DialerContact.campaign_id == row.id,
                DialerContact.external_id == external_id)).first()
            if found is None:
                raise NotFound(f"campaign {campaign!r} has no contact {external_id!r}")
            return found

        return self._read(work)

    def contact_of(self, contact: int) -> DialerContact:
        """The stored contact (detached: read it freely)."""
        return self._read(lambda session: _contact(session, contact))

    def contacts(self, campaign: str) -> list[DialerContact]:
        """All contacts of ``campaign``, by id."""

        def work(session: Session) -> list[DialerContact]:
            row = self._campaign(session, campaign)
            return list(session.exec(select(DialerContact).where(
                DialerContact.campaign_id == row.id).order_by(col(DialerContact.id))))

        return self._read(work)

    def attempts(self, campaign: str) -> list[DialerAttempt]:
        """All attempts of ``campaign``, by id."""

        def work(session: Session) -> list[DialerAttempt]:
            row = self._campaign(session, campaign)
            return list(session.exec(select(DialerAttempt).where(
                DialerAttempt.campaign_id == row.id).order_by(col(DialerAttempt.id))))

        return self._read(work)

    # -- do not call -------------------------------------------------------------------------

    def add_dnc(self, tenant: str, numbers: Iterable[str], now: float | None = None) -> int:
        """Put E.164 ``numbers`` on ``tenant``'s do-not-call list; how many were new."""
        wanted = list(dict.fromkeys(numbers))
        for number in wanted:
            if not isinstance(number, str) or not _E164.fullmatch(number):
                raise ValueError(f"do-not-call entry {number!r} is not an E.164 number")
        stamp = _now(now)

        def work(session: Session) -> int:
            tenant_id = _tenant_id(session, tenant)
            present = _dnc_of(session, tenant_id, wanted)
            rows = [{"tenant_id": tenant_id, "number": number, "added": stamp}
                    for number in wanted if number not in present]
            table: Any = DialerDnc.__table__  # type: ignore[attr-defined]
            for chunk in _chunks(rows):
                session.connection().execute(insert(table), chunk)
            return len(rows)

        return self._write(work) if wanted else 0

    def dnc_numbers(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` are on this tenant's do-not-call list."""
        wanted = list(numbers)
        return self._read(lambda session: _dnc_of(session, self._tenant_id(session), wanted))

    # -- transactions ------------------------------------------------------------------------

    def _tenant_id(self, session: Session) -> int:
        return _tenant_id(session, self.tenant)

    def _campaign(self, session: Session, name: str) -> DialerCampaign:
        row = session.exec(select(DialerCampaign).join(Tenant).where(
            Tenant.name == self.tenant, DialerCampaign.name == name)).first()
        if row is None:
            raise NotFound(f"no dialer campaign {name!r} in tenant {self.tenant!r}")
        return row

    def _read(self, work: Callable[[Session], _T]) -> _T:
        return self.store.read(work)

    def _write(self, work: Callable[[Session], _T]) -> _T:
        return self.store.write(work)


def _finish(session: Session, attempt: DialerAttempt, contact: DialerContact, result: str,
            now: float, *, sip_status: int | None = None, agent: str | None = None,
            call_id: str | None = None, note: str | None = None) -> Outcome:
    if attempt.ended is not None:
        return Outcome(_id(contact), contact.state, attempt.result or "", contact.next_at
                       if contact.state != ContactState.DONE.value else None, False)
    campaign = session.get(DialerCampaign, attempt.campaign_id)
    if campaign is None:
        raise NotFound(f"attempt {attempt.id} names no campaign")
    rules = _config(campaign).retries
    tries: dict[str, int] = json.loads(contact.tries)
    settled: Settlement = settle(contact.state, result, tries, rules, now,
                                 callback_at=contact.callback_at)
    contact.state = settled.state.value
    contact.result = settled.result
    contact.tries = json.dumps(dict(settled.counts), sort_keys=True)
    if settled.next_at is not None:
        contact.next_at = settled.next_at
    if ContactEvent.CALLBACK in settled.path:
        contact.callback_at = None
    contact.updated = now
    attempt.ended = now
    attempt.result = settled.result
    if attempt.answered is None and ContactEvent.ANSWER in settled.path:
        attempt.answered = now
    if attempt.connected is None and ContactEvent.CONNECT in settled.path:
        attempt.connected = now
    if sip_status is not None:
        attempt.sip_status = sip_status
    if agent is not None:
        attempt.agent = agent
    if call_id is not None:
        attempt.call_id = call_id
    if note is not None:
        attempt.note = note
    session.add_all([attempt, contact])
    return Outcome(_id(contact), contact.state, settled.result, settled.next_at, True)


def _attempt_and_contact(session: Session,
                         attempt_id: int) -> tuple[DialerAttempt, DialerContact]:
    # The attempt row's lock orders concurrent finishes of one attempt: the second one
    # sees it ended.
    attempt = session.exec(select(DialerAttempt).where(DialerAttempt.id == attempt_id)
                           .with_for_update()).first()
    if attempt is None:
        raise NotFound(f"no dialer attempt {attempt_id}")
    return attempt, _contact(session, attempt.contact_id)


def _contact(session: Session, contact_id: int) -> DialerContact:
    contact = session.exec(select(DialerContact).where(DialerContact.id == contact_id)
                           .with_for_update()).first()
    if contact is None:
        raise NotFound(f"no dialer contact {contact_id}")
    return contact


def _tenant_id(session: Session, name: str) -> int:
    found = session.exec(select(Tenant.id).where(Tenant.name == name)).first()
    if found is None:
        raise NotFound(f"tenant {name!r} does not exist")
    return found


def _dnc_of(session: Session, tenant_id: int, numbers: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(numbers))):
        found.update(session.exec(select(DialerDnc.number).where(
            DialerDnc.tenant_id == tenant_id, col(DialerDnc.number).in_(chunk))))
    return found


def _config(row: DialerCampaign) -> CampaignConfig:
    try:
        return CampaignConfig.from_dict(json.loads(row.config), f"stored campaign {row.name}")
    except (ValueError, CampaignError) as exc:
        raise StoreError(f"the stored settings of campaign {row.name!r} are invalid: "
                         f"{exc}") from None


def _chunks(items: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _id(row: DialerCampaign | DialerContact | DialerAttempt) -> int:
    # Rows read from or flushed to the database always have their primary key.
    assert row.id is not None
    return row.id


def _now(now: float | None) -> float:
    return time.time() if now is None else now
