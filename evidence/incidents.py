"""Integrity incidents and the quarantine they put an item under.

An open incident (a row of `integrity_incident` with no `resolved_at`) quarantines its item: no handoff (offer
or acceptance, any purpose), check-out, file download, analysis or destruction until an auditor or coordinator
resolves it with a recorded finding. The table is the one source of truth for "quarantined"; it is read and
written only under the item's lock (`evidence.items.lock_item`), so an incident that opens while a handoff
is being accepted is either seen by that acceptance or opens after it.

Where incidents come from: a read that found a SHA-256 mismatch (`evidence.files.record_mismatch`, source
`download`), the scheduled fixity pass (`evidence.fixity`, `fixity`), and staff reporting one by hand (a
broken or changed seal at a handoff: `seal`, anything else: `report`). Each opens its incident, its
INTEGRITY_INCIDENT ledger entry and custody event, and an integrity alert, in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, select
from sqlmodel import Field, Session, SQLModel

from core import crypto, ledger, outbox
from core.actors import Actor
from core.cases import get_case
from core.clock import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.ledger import EventKind
from evidence.custody.models import CustodyEventKind, Transfer, add_event
from evidence.custody.rules import RESOLVERS, quarantine_refusal
from evidence.items import ItemStatus, get_item, lock_item
from policies.deadlines import ClockName, ClockState, ClockStatus, raise_alert
from policies.permissions import Permission, Role, role_allows


class IncidentSource(StrEnum):
    """How the incident was found."""

    DOWNLOAD = "download"  # a read re-hashed the file and it did not match
    FIXITY = "fixity"  # the scheduled fixity pass
    SEAL = "seal"  # staff saw a broken or changed seal
    REPORT = "report"  # staff reported something else by hand


class IncidentOutcome(StrEnum):
    """What the resolver found."""

    RESTORED = "restored"  # the evidence was restored/verified (e.g. the intact version re-established)
    FALSE_ALARM = "false-alarm"
    EVIDENCE_COMPROMISED = "evidence-compromised"  # recorded; the item may move again with that on record


class IntegrityIncident(SQLModel, table=True):
    """One integrity incident of an item; open while `resolved_at` is empty (the item is quarantined)."""

    __tablename__ = "integrity_incident"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), index=True, nullable=False))
    case_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    opened_by: str = Field(max_length=64)
    reason: str = Field(max_length=200)
    source: IncidentSource = Field(sa_type=String(16))
    file_id: str | None = Field(default=None, max_length=32)
    ledger_seq: int | None = None
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    resolved_by: str | None = Field(default=None, max_length=64)
    finding: str | None = Field(default=None, max_length=500)
    outcome: IncidentOutcome | None = Field(default=None, sa_type=String(24))
    resolution_ledger_seq: int | None = None


class IntegrityIncidentPublic(SQLModel):
    """An incident as shown through the API."""

    id: int
    item_id: str
    case_id: str
    opened_at: datetime
    opened_by: str
    reason: str
    source: IncidentSource
    file_id: str | None = None
    ledger_seq: int | None = None
    open: bool
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    finding: str | None = None
    outcome: IncidentOutcome | None = None
    resolution_ledger_seq: int | None = None


def to_public(incident: IntegrityIncident, session: Session | None = None) -> IntegrityIncidentPublic:
    """The incident for the API (with `open`); given the session, the reason and finding staff typed are shown
    as text (their rows hold commitments: core.crypto.texts; "[erased]" after a lawful erasure)."""
    fields = {name: getattr(incident, name) for name in IntegrityIncident.model_fields}
    if session is not None:
        fields["reason"] = crypto.show_text(session, incident.case_id, incident.reason)
        fields["finding"] = crypto.show_text(session, incident.case_id, incident.finding)
    return IntegrityIncidentPublic(**fields, open=incident.resolved_at is None)


class _Text(SQLModel):
    @field_validator("reason", "finding", check_fields=False)
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class IncidentReport(_Text):
    """Request body for reporting an incident by hand (what was seen; no survivor details)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reason: str = Field(max_length=200)
    source: IncidentSource = IncidentSource.REPORT


class IncidentResolve(_Text):
    """Request body for resolving an incident: the recorded finding and its outcome."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    finding: str = Field(max_length=500)
    outcome: IncidentOutcome


# --- reading ------------------------------------------------------------------------------------------

def open_incident_ids(session: Session, item_id: str) -> list[int]:
    """Ids of the item's open incidents, oldest first (empty: not quarantined)."""
    return list(session.execute(
        select(IntegrityIncident.id).where(IntegrityIncident.item_id == item_id,
                                           IntegrityIncident.resolved_at.is_(None))  # type: ignore[union-attr]
        .order_by(IntegrityIncident.id)).scalars())


def require_not_quarantined(session: Session, item_id: str, action: str) -> None:
    """Refuse `action` while the item has an open incident (call with the item locked for changes)."""
    ids = open_incident_ids(session, item_id)
    if ids:
        raise quarantine_refusal(item_id, ids[0], action)


def list_item_incidents(session: Session, item_id: str) -> list[IntegrityIncident]:
    """Every incident of the item, oldest first."""
    get_item(session, item_id)
    return list(session.execute(select(IntegrityIncident).where(IntegrityIncident.item_id == item_id)
                                .order_by(IntegrityIncident.id)).scalars())


def list_incidents(session: Session, *, open_only: bool = True, limit: int = 200) -> list[IntegrityIncident]:
    """Incidents centre-wide (by default the open ones), oldest first."""
    stmt = select(IntegrityIncident).order_by(IntegrityIncident.id).limit(limit)
    if open_only:
        stmt = stmt.where(IntegrityIncident.resolved_at.is_(None))  # type: ignore[union-attr]
    return list(session.execute(stmt).scalars())


# --- opening ------------------------------------------------------------------------------------------

def open_incident(session: Session, *, actor: Actor, item_id: str, reason: str, source: IncidentSource,
                  data: dict[str, Any] | None = None, now: datetime | None = None,
                  typed: bool | None = None) -> IntegrityIncident:
    """Open an incident: quarantine, INTEGRITY_INCIDENT ledger entry + custody event, and an alert (no commit).

    `typed` (default: the source is a report by hand, seal or report): the reason is free text staff wrote: it
    is kept sealed under the case key and the row, the ledger entry and the custody event hold its commitment. A
    reason the system wrote (a SHA-256 mismatch, fixity) names no one and stays as it is."""
    now = now or utcnow()
    item, _state = lock_item(session, item_id)
    if typed if typed is not None else IncidentSource(source) in (IncidentSource.SEAL, IncidentSource.REPORT):
        reason = crypto.keep_text(session, case_id=item.case_id, purpose=crypto.TextPurpose.REASON,
                                  text=reason[:200], now=now) or ""
    data = dict(data or {})
    file_id = data.get("file_id")
    if file_id:
        # The same bad file found again (the next fixity pass) while its incident is open: that incident
        # already quarantines the item and raised its alert; nothing new to record.
        already = session.execute(select(IntegrityIncident).where(
            IntegrityIncident.item_id == item.id, IntegrityIncident.file_id == str(file_id),
            IntegrityIncident.resolved_at.is_(None))).scalars().first()  # type: ignore[union-attr]
        if already is not None:
            return already
    incident = IntegrityIncident(item_id=item.id, case_id=item.case_id, opened_at=now, opened_by=actor.id,
                                 reason=reason[:200], source=IncidentSource(source),
                                 file_id=str(file_id) if file_id else None)
    session.add(incident)
    session.flush()
    entry = ledger.append(session, kind=EventKind.INTEGRITY_INCIDENT, actor=actor, case_id=item.case_id,
                          item_id=item.id, at=now,
                          data={"reason": reason, **data, "incident_id": incident.id, "source": str(source)})
    incident.ledger_seq = entry.seq
    session.add(incident)
    add_event(session, item_id=item.id, kind=CustodyEventKind.INTEGRITY_INCIDENT, actor=actor, at=now,
              entry=entry, reason=reason[:200])
    _raise_alert(session, actor, incident, now)
    return incident


def _raise_alert(session: Session, actor: Actor, incident: IntegrityIncident, now: datetime) -> None:
    """An integrity alert, at once, keyed per incident (GET /alerts shows it to the roles that see alerts)."""
    clock = ClockState(name=ClockName.INTEGRITY_INCIDENT, starts_at=now, deadline=now, status=ClockStatus.RUNNING,
                       item_id=incident.item_id)
    message = (f"integrity incident {incident.id} ({incident.source}) on item {incident.item_id}: quarantined "
               f"until {RESOLVERS} resolves it")
    raise_alert(session, actor, get_case(session, incident.case_id), clock, f"integrity-incident:{incident.id}",
           message, now)


def report_incident(session: Session, *, actor: Actor, item_id: str, data: IncidentReport,
                    now: datetime | None = None) -> IntegrityIncident:
    """Staff report an incident by hand (e.g. a broken or changed seal seen at a handoff).

    Who may: the item's custodian, either side of its open offer, or lab/evidence-store staff while the item
    is checked in (they handle the store).
    """
    data = IncidentReport.model_validate(data.model_dump())
    if data.source not in (IncidentSource.SEAL, IncidentSource.REPORT):
        raise ValidationFailed("download and fixity incidents are recorded by the system: report source "
                               "'seal' (a broken or changed seal) or 'report'")
    _item, state = lock_item(session, item_id)
    handling = {state.custodian}
    if state.pending_transfer_id:
        offer = session.get(Transfer, state.pending_transfer_id)
        if offer is not None:
            handling |= {offer.from_user, offer.to_user}
    in_store = state.status == ItemStatus.CHECKED_IN.value and actor.role == Role.LAB
    if actor.id not in handling and not in_store:
        raise PermissionDenied(f"only the item's custodian ({state.custodian}) or staff handling it at a handoff "
                               "can report an incident on it")
    return open_incident(session, actor=actor, item_id=item_id, reason=data.reason, source=data.source, now=now,
                         typed=True)


# --- resolving ----------------------------------------------------------------------------------------

def resolve_incident(session: Session, *, actor: Actor, item_id: str, incident_id: int, data: IncidentResolve,
                     now: datetime | None = None) -> IntegrityIncident:
    """An auditor or coordinator records the finding; the incident closes (no commit)."""
    now = now or utcnow()
    data = IncidentResolve.model_validate(data.model_dump())
    if not role_allows(actor.role, Permission.INCIDENT_RESOLVE):
        raise PermissionDenied(f"only {RESOLVERS} can resolve an integrity incident")
    item, _state = lock_item(session, item_id)
    incident = session.get(IntegrityIncident, incident_id, populate_existing=True)
    if incident is None or incident.item_id != item.id:
        raise NotFound(f"no integrity incident {incident_id} on item {item.id}")
    if incident.resolved_at is not None:
        raise Conflict(f"integrity incident {incident_id} was already resolved by {incident.resolved_by}")
    # The finding is free text staff wrote: sealed under the case key; the ledger and the row hold its commitment.
    finding = crypto.keep_text(session, case_id=item.case_id, purpose=crypto.TextPurpose.FINDING, text=data.finding,
                               now=now)
    entry = ledger.append(session, kind=EventKind.INTEGRITY_RESOLVED, actor=actor, case_id=item.case_id,
                          item_id=item.id, at=now,
                          data={"incident_id": incident.id, "outcome": str(data.outcome), "finding": finding})
    incident.resolved_at, incident.resolved_by = now, actor.id
    incident.finding, incident.outcome = finding, data.outcome
    incident.resolution_ledger_seq = entry.seq
    session.add(incident)
    session.flush()
    add_event(session, item_id=item.id, kind=CustodyEventKind.INTEGRITY_RESOLVED, actor=actor, at=now,
              entry=entry, reason=f"incident {incident.id} resolved: {data.outcome}")
    # The pathway skips quarantined items (flows.pathway): look at the case again now the item may move.
    outbox.enqueue(session, case_id=item.case_id, kind=outbox.OutboxKind.WAKE, now=now)
    return incident
