"""The funder report's reads: plain facts for evidence.reports.rules, and the report itself (`funder_report`).

Only counts leave this package: the facts carry a case or item id as an opaque key for counting once, and
evidence.reports.rules turns them into tables of counts by jurisdiction, age band, month and service type.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core.cases import AgeBand, Case
from core.clock import as_utc, utcnow
from core.errors import NotFound
from evidence.custody.models import CustodyEvent, CustodyEventKind
from evidence.items import EvidenceItem
from evidence.reports.rules import (
    KIT_ANALYSED,
    KIT_AT_LAB,
    KIT_RELEASED,
    CaseFact,
    ExamFact,
    Facts,
    FunderReport,
    KitEvent,
    ServiceFact,
    build_report,
    report_period,
)
from policies.advocacy import AdvocacyRecord, RecordKind, RecordStatus, Service
from policies.clinical import ExamRecord
from policies.handoffs import ItemKind
from policies.jurisdictions import installed_packs

PROVIDED = (RecordStatus.ACCEPTED.value, RecordStatus.COMPLETED.value)
_KIT_KINDS = {CustodyEventKind.RELEASED.value: KIT_RELEASED, CustodyEventKind.SUBMITTED_TO_LAB.value: KIT_AT_LAB,
              CustodyEventKind.ANALYSED.value: KIT_ANALYSED}


def _where_jurisdiction(stmt, jurisdiction: str | None):
    return stmt.where(Case.jurisdiction == jurisdiction) if jurisdiction else stmt


def new_cases(session: Session, *, start: datetime, end: datetime, jurisdiction: str | None) -> list[CaseFact]:
    """Cases opened in [start, end)."""
    stmt = select(Case.id, Case.jurisdiction, Case.age_band, Case.opened_at).where(
        Case.opened_at >= start, Case.opened_at < end)
    return [CaseFact(case_key=i, jurisdiction=j, age_band=str(a), opened_at=as_utc(t))
            for i, j, a, t in session.execute(_where_jurisdiction(stmt, jurisdiction))]


def advocacy_services(session: Session, *, start: datetime, end: datetime,
                      jurisdiction: str | None) -> list[ServiceFact]:
    """Advocacy service records (policies.advocacy) accepted or completed in [start, end): no notes, no referral
    names, only the service type and when."""
    stmt = (select(AdvocacyRecord.case_id, Case.jurisdiction, AdvocacyRecord.service, AdvocacyRecord.recorded_at)
            .join(Case, Case.id == AdvocacyRecord.case_id)
            .where(AdvocacyRecord.kind == RecordKind.SERVICE.value, AdvocacyRecord.status.in_(PROVIDED),
                   AdvocacyRecord.recorded_at >= start, AdvocacyRecord.recorded_at < end))
    return [ServiceFact(case_key=c, jurisdiction=j, service=str(s), at=as_utc(t))
            for c, j, s, t in session.execute(_where_jurisdiction(stmt, jurisdiction)) if s]


def exams(session: Session, *, start: datetime, end: datetime, jurisdiction: str | None) -> list[ExamFact]:
    """Examinations started in [start, end) (no narrative: only the case's jurisdiction and age band)."""
    stmt = (select(Case.jurisdiction, Case.age_band, ExamRecord.started_at)
            .join(Case, Case.id == ExamRecord.case_id)
            .where(ExamRecord.started_at >= start, ExamRecord.started_at < end))
    return [ExamFact(jurisdiction=j, age_band=str(a), at=as_utc(t))
            for j, a, t in session.execute(_where_jurisdiction(stmt, jurisdiction))]


def kit_events(session: Session, *, end: datetime, jurisdiction: str | None) -> list[KitEvent]:
    """Every release, lab receipt and analysis of a kit before `end` (earlier ones too: a kit counts from its
    first receipt by a lab), from the append-only custody events."""
    stmt = (select(EvidenceItem.id, Case.jurisdiction, Case.age_band, CustodyEvent.kind, CustodyEvent.at,
                   EvidenceItem.collected_at)
            .join(EvidenceItem, EvidenceItem.id == CustodyEvent.item_id)
            .join(Case, Case.id == EvidenceItem.case_id)
            .where(EvidenceItem.kind == ItemKind.KIT.value, CustodyEvent.kind.in_(list(_KIT_KINDS)),
                   CustodyEvent.at < end))
    return [KitEvent(item_key=i, jurisdiction=j, age_band=str(a), kind=_KIT_KINDS[str(k)], at=as_utc(t),
                     collected_at=as_utc(c))
            for i, j, a, k, t, c in session.execute(_where_jurisdiction(stmt, jurisdiction))]


def funder_report(session: Session, *, fy: int | None = None, start: datetime | None = None,
                  end: datetime | None = None, jurisdiction: str | None = None, threshold: int,
                  now: datetime | None = None) -> FunderReport:
    """The funder report of a federal fiscal year (or a range inside one), optionally of one jurisdiction.

    A period with too little data is still a report (its notes say why cells are hidden); an invalid fiscal year
    or range is ValidationFailed, an unknown jurisdiction NotFound."""
    now = now or utcnow()
    period = report_period(fy=fy, start=start, end=end, now=now)
    known = sorted(installed_packs())
    present = set(session.execute(select(Case.jurisdiction).distinct()).scalars())
    if jurisdiction is not None and jurisdiction not in known and jurisdiction not in present:
        raise NotFound(f"unknown jurisdiction {jurisdiction!r}; installed: {', '.join(known)}")
    facts = Facts(
        cases=new_cases(session, start=period.start, end=period.end, jurisdiction=jurisdiction),
        services=advocacy_services(session, start=period.start, end=period.end, jurisdiction=jurisdiction),
        exams=exams(session, start=period.start, end=period.end, jurisdiction=jurisdiction),
        kit_events=kit_events(session, end=period.end, jurisdiction=jurisdiction),
    )
    return build_report(facts, period=period, jurisdictions=sorted(set(known) | present),
                        age_bands=[b.value for b in AgeBand], services=[s.value for s in Service],
                        threshold=threshold, jurisdiction=jurisdiction, generated_at=now)
