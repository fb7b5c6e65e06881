"""Advocacy services behind the information-sharing release: service decisions, referrals and their outcomes,
contacts made, safety-plan revisions (encrypted; every read access-logged).

Every function passes the consent checkpoint's ADVOCATE_SHARE handoff first (written, unexpired
share-with-advocate release): without it the advocate records and reads nothing (403 Consent required, the
denial on the ledger). Nothing here gates any other service: a survivor who declines advocacy still gets the
exam, evidence collection and release (the release is never a condition of service).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import NotFound, ValidationFailed
from core.ledger import EventKind
from policies import checkpoint
from policies.access import log_access
from policies.advocacy import (
    AdvocacyCreate,
    AdvocacyPublic,
    AdvocacyRecord,
    RecordKind,
    RecordStatus,
    Service,
    list_advocacy,
    record_advocacy,
)
from policies.advocacy_models import (
    AdvocacyEntry,
    ContactCreate,
    EntryKind,
    EntryPublic,
    ReferralCreate,
    ServiceDecision,
    entry_public,
)
from policies.advocacy_rules import ReferralOutcome
from policies.handoffs import Handoff
from policies.permissions import Permission

SAFETY_PLAN_RESOURCE = "advocacy:safety-plan:revision"


def require_release(session: Session, *, actor: Actor, case_id: str, now: datetime | None = None) -> None:
    """The sharing release must be in force (checkpoint ADVOCATE_SHARE), else ConsentRequired (403)."""
    checkpoint.enforce(session, case_id=case_id, handoff=Handoff.ADVOCATE_SHARE, actor=actor, now=now or utcnow(),
                       subject={"advocacy": "record"})


def record_service(session: Session, *, actor: Actor, case_id: str, data: ServiceDecision,
                   now: datetime | None = None) -> AdvocacyRecord:
    """A service offered, accepted or declined (a later decision on the same service supersedes)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    return record_advocacy(session, actor=actor, case_id=case.id, now=now, data=AdvocacyCreate(
        kind=RecordKind.SERVICE, service=data.service, status=RecordStatus(data.status)))


def record_referral(session: Session, *, actor: Actor, case_id: str, data: ReferralCreate,
                    now: datetime | None = None) -> AdvocacyRecord:
    """A referral to an outside service (outcome pending until recorded)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    return record_advocacy(session, actor=actor, case_id=case.id, now=now, data=AdvocacyCreate(
        kind=RecordKind.REFERRAL, service=data.service, status=RecordStatus.OFFERED, referral_to=data.organisation))


def _referral(session: Session, case_id: str, referral_id: int) -> AdvocacyRecord:
    row = session.get(AdvocacyRecord, referral_id)
    if row is None or row.case_id != case_id or row.kind != RecordKind.REFERRAL:
        raise NotFound(f"no referral {referral_id} on this case: list them with `coc advocacy show CASE_ID`")
    return row


def record_referral_outcome(session: Session, *, actor: Actor, case_id: str, referral_id: int,
                            outcome: ReferralOutcome, now: datetime | None = None) -> AdvocacyEntry:
    """What came of a referral (closed enum); a later outcome supersedes, every one is kept."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    _referral(session, case.id, referral_id)
    entry = ledger.append(session, kind=EventKind.REFERRAL_OUTCOME, actor=actor, case_id=case.id, at=now,
                          data={"referral": referral_id, "outcome": str(outcome)})
    row = AdvocacyEntry(case_id=case.id, kind=EntryKind.REFERRAL_OUTCOME, referral_id=referral_id,
                        outcome=str(outcome), occurred_at=now, recorded_at=now, recorded_by=actor.id,
                        ledger_seq=entry.seq)
    session.add(row)
    session.flush()
    return row


def record_contact(session: Session, *, actor: Actor, case_id: str, data: ContactCreate,
                   now: datetime | None = None) -> AdvocacyEntry:
    """A contact made with the survivor: kind, when, by whom, outcome (no free text on record)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    at = as_utc(data.at) if data.at else now
    if at > now:
        raise ValidationFailed("a contact cannot be recorded in the future: give the time it was made")
    require_release(session, actor=actor, case_id=case.id, now=now)
    entry = ledger.append(session, kind=EventKind.CONTACT_MADE, actor=actor, case_id=case.id, at=now,
                          data={"contact": str(data.kind), "outcome": str(data.outcome), "at": at})
    row = AdvocacyEntry(case_id=case.id, kind=EntryKind.CONTACT, contact_kind=str(data.kind),
                        outcome=str(data.outcome), occurred_at=at, recorded_at=now, recorded_by=actor.id,
                        ledger_seq=entry.seq)
    session.add(row)
    session.flush()
    return row


def revise_safety_plan(session: Session, *, actor: Actor, case_id: str, notes: str, now: datetime | None = None,
                       key: str | None = None) -> AdvocacyRecord:
    """A new safety-plan revision (encrypted by policies.advocacy.record_advocacy); earlier ones are kept."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    return record_advocacy(session, actor=actor, case_id=case.id, now=now, key=key, data=AdvocacyCreate(
        kind=RecordKind.SAFETY_PLAN, status=RecordStatus.COMPLETED, notes=notes))


class SafetyPlanPublic(BaseModel):
    """One safety-plan revision, decrypted for an allowed reader."""

    revision: int
    id: int
    notes: str | None
    recorded_at: datetime
    recorded_by: str


def read_safety_plan(session: Session, *, actor: Actor, case_id: str, revision: int | None = None,
                     now: datetime | None = None, key: str | None = None,
                     break_glass: bool = False) -> list[SafetyPlanPublic]:
    """Every revision (or only `revision`, 1-based), oldest first; each revision read is access-logged (who,
    when, which revision row) in the caller's transaction."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    plans = [r for r in list_advocacy(session, case.id, include_notes=True, key=key)
             if r.kind is RecordKind.SAFETY_PLAN]
    shown = [SafetyPlanPublic(revision=i, id=p.id, notes=p.notes, recorded_at=p.recorded_at,
                              recorded_by=p.recorded_by) for i, p in enumerate(plans, start=1)]
    if revision is not None:
        shown = [p for p in shown if p.revision == revision]
        if not shown:
            raise NotFound(f"no safety-plan revision {revision} on this case ({len(plans)} revisions)")
    for p in shown:
        log_access(session, actor=actor, case_id=case.id, resource=SAFETY_PLAN_RESOURCE,
                   permission=Permission.SAFETY_PLAN_READ, break_glass=break_glass, now=now, object_id=str(p.id))
    return shown


class ServiceState(BaseModel):
    """Where one service stands (the latest decision)."""

    service: Service
    status: RecordStatus
    decided_at: datetime
    decided_by: str


class ReferralState(BaseModel):
    """A referral and its latest outcome."""

    id: int
    service: Service | None
    organisation: str | None
    referred_at: datetime
    referred_by: str
    outcome: ReferralOutcome


class AdvocacyOverview(BaseModel):
    """A case's advocacy: services, referrals with outcome, contacts, safety-plan revision count (no notes)."""

    services: list[ServiceState]
    referrals: list[ReferralState]
    contacts: list[EntryPublic]
    safety_plan_revisions: int


def advocacy_overview(session: Session, *, actor: Actor, case_id: str,
                      now: datetime | None = None) -> AdvocacyOverview:
    """The case's advocacy as it stands (behind the release)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    records = list_advocacy(session, case.id)
    services: dict[Service, ServiceState] = {}
    for r in records:
        if r.kind is RecordKind.SERVICE and r.service is not None:
            services[r.service] = ServiceState(service=r.service, status=r.status, decided_at=r.recorded_at,
                                               decided_by=r.recorded_by)
    entries = list(session.execute(select(AdvocacyEntry).where(AdvocacyEntry.case_id == case.id)
                                   .order_by(AdvocacyEntry.id)).scalars())
    outcomes = {e.referral_id: ReferralOutcome(e.outcome) for e in entries if e.kind == EntryKind.REFERRAL_OUTCOME}
    referrals = [ReferralState(id=r.id, service=r.service, organisation=r.referral_to, referred_at=r.recorded_at,
                               referred_by=r.recorded_by, outcome=outcomes.get(r.id, ReferralOutcome.PENDING))
                 for r in records if r.kind is RecordKind.REFERRAL]
    return AdvocacyOverview(
        services=sorted(services.values(), key=lambda s: s.service.value), referrals=referrals,
        contacts=[entry_public(e) for e in entries if e.kind == EntryKind.CONTACT],
        safety_plan_revisions=sum(1 for r in records if r.kind is RecordKind.SAFETY_PLAN))


def record_entry(session: Session, *, actor: Actor, case_id: str, data: AdvocacyCreate, now: datetime | None = None,
                 key: str | None = None) -> AdvocacyRecord:
    """The generic advocacy record (POST /cases/{id}/advocacy), behind the release."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    return record_advocacy(session, actor=actor, case_id=case.id, data=data, now=now, key=key)


def list_records(session: Session, *, actor: Actor, case_id: str,
                 now: datetime | None = None) -> list[AdvocacyPublic]:
    """The case's advocacy records without notes, behind the release."""
    now = now or utcnow()
    case = get_case(session, case_id)
    require_release(session, actor=actor, case_id=case.id, now=now)
    return list_advocacy(session, case.id)
