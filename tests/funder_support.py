"""A year of synthetic cases for the funder-report tests, made through the real services in time order with a
ManualClock: cases across jurisdictions and age bands, advocacy services, exams, kits released to the police,
received and analysed by a crime lab. Identity, advocacy notes, referral names, exam narratives and item
descriptions all carry CANARY strings that must never reach a report. Returns the truth the report should show."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from core.actors import Actor
from core.cases import AgeBand, CaseCreate, Reporting
from core.clock import ManualClock
from evidence.custody import (
    AnalysisCreate,
    TransferAccept,
    TransferCreate,
    accept_transfer,
    offer_lab_submission,
    offer_release,
    record_analysis,
)
from evidence.items import EvidenceItemCreate, ItemKind, collect_item
from policies.advocacy import AdvocacyCreate, RecordKind, RecordStatus, Service, record_advocacy
from policies.cases import IdentityIn, open_case, set_identity
from policies.clinical import ExamCreate, record_exam
from policies.consent import ConsentDecisionCreate, Decision, allowed_methods, record_decision
from policies.handoffs import ConsentScope
from policies.jurisdictions import get_pack
from tests.evidence_support import CRIME_LAB, EXAMINER, OFFICER, ensure_staff

CANARY = "CANARY-Quinevere-Zyxwold"
CANARY_NOTE = "CANARY-safety-plan-lives-at-17-Elm"
CANARY_ORG = "CANARY-Refuge-Org"
CANARY_EXAM = "CANARY-exam-narrative"
ADVOCATE = Actor(id="U00000000000000A1", role="advocate")
FY_START = datetime(2024, 10, 1, tzinfo=UTC)  # federal fiscal year 2025
JURISDICTIONS = ("default",) * 8 + ("us-tx",) * 6 + ("us-wa",) * 4 + ("us-mi",) * 1
BANDS = (AgeBand.ADULT,) * 14 + (AgeBand.AGE_16_17,) * 2 + (AgeBand.AGE_14_15, AgeBand.AGE_13, AgeBand.UNDER_13)
SERVICES = (Service.COUNSELLING, Service.COUNSELLING, Service.LEGAL_AID, Service.SHELTER,
            Service.ACCOMPANIMENT, Service.MEDICAL_FOLLOW_UP)


@dataclass
class Truth:
    """What happened, counted by the test itself (not by the code under test)."""

    case_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    new: Counter = field(default_factory=Counter)  # (jurisdiction, band) of cases opened in FY 2025
    services: Counter = field(default_factory=Counter)  # (month, service)
    exams: Counter = field(default_factory=Counter)
    released: Counter = field(default_factory=Counter)
    tested: Counter = field(default_factory=Counter)
    lab_days: dict = field(default_factory=lambda: defaultdict(list))  # jurisdiction -> days collection->lab


def _in_fy(at: datetime) -> bool:
    return FY_START <= at < datetime(2025, 10, 1, tzinfo=UTC)


def _grant(s: Session, case_id: str, band: AgeBand, jurisdiction: str, *scopes: ConsentScope) -> None:
    method = allowed_methods(band, get_pack(jurisdiction))[-1]
    for scope in scopes:
        record_decision(s, actor=EXAMINER, case_id=case_id, data=ConsentDecisionCreate(
            scope=scope, decision=Decision.GRANTED, method=method, form_ref=f"FORM-{scope}"))


def make_year(engine, clock: ManualClock, n_cases: int = 96, seed: int = 2025) -> Truth:
    """Open `n_cases` cases over FY 2025 and run their services in time order; returns the truth."""
    rnd = random.Random(seed)
    truth = Truth()
    plan: list[tuple[datetime, int, str, dict]] = []
    for i in range(n_cases):
        opened = FY_START + timedelta(days=i * 365 / n_cases, hours=rnd.randint(0, 20))
        jur, band = rnd.choice(JURISDICTIONS), rnd.choice(BANDS)
        plan.append((opened, i, "open", {"jur": jur, "band": band}))
        plan.append((opened + timedelta(hours=2), i, "advocacy", {"service": rnd.choice(SERVICES),
                                                                   "declined": rnd.random() < 0.15}))
        if band is AgeBand.ADULT and rnd.random() < 0.7:
            plan.append((opened + timedelta(hours=1), i, "exam", {}))
            if rnd.random() < 0.75:
                release = opened + timedelta(days=rnd.randint(1, 5))
                lab = release + timedelta(days=rnd.randint(2, 40))
                plan.append((release, i, "release", {}))
                plan.append((lab, i, "lab", {}))
                if rnd.random() < 0.8:
                    plan.append((lab + timedelta(days=rnd.randint(5, 60)), i, "analyse", {}))
    plan.sort(key=lambda p: (p[0], p[1], p[2]))
    cases: dict[int, dict] = {}
    with Session(engine, expire_on_commit=False) as s:
        ensure_staff(s)
        s.commit()
        for at, i, what, args in plan:
            clock.set(max(at, clock.now()))
            now = clock.now()
            c = cases.get(i)
            if what == "open":
                case = open_case(s, actor=EXAMINER, data=CaseCreate(jurisdiction=args["jur"], age_band=args["band"],
                                                                      reporting=Reporting.UNRESTRICTED))
                set_identity(s, actor=EXAMINER, case_id=case.id,
                             identity=IdentityIn(full_name=f"{CANARY} {i}", contact=f"{CANARY}@example.org"))
                cases[i] = c = {"id": case.id, **args}
                truth.case_ids.append(case.id)
                if _in_fy(now):
                    truth.new[(args["jur"], str(args["band"]))] += 1
            elif what == "advocacy":
                status = RecordStatus.DECLINED if args["declined"] else RecordStatus.ACCEPTED
                record_advocacy(s, actor=ADVOCATE, case_id=c["id"], data=AdvocacyCreate(
                    kind=RecordKind.SERVICE, service=args["service"], status=status))
                record_advocacy(s, actor=ADVOCATE, case_id=c["id"], data=AdvocacyCreate(
                    kind=RecordKind.SAFETY_PLAN, status=RecordStatus.COMPLETED, notes=f"{CANARY_NOTE} {CANARY}"))
                record_advocacy(s, actor=ADVOCATE, case_id=c["id"], data=AdvocacyCreate(
                    kind=RecordKind.REFERRAL, service=Service.SHELTER, status=RecordStatus.OFFERED,
                    referral_to=CANARY_ORG))
                if not args["declined"] and _in_fy(now):
                    truth.services[(f"{now:%Y-%m}", str(args["service"]))] += 1
            elif what == "exam":
                _grant(s, c["id"], c["band"], c["jur"], ConsentScope.MEDICAL_CARE, ConsentScope.FORENSIC_EXAM,
                       ConsentScope.RELEASE_LAW_ENFORCEMENT, ConsentScope.LAB_TESTING)
                record_exam(s, actor=EXAMINER, case_id=c["id"], data=ExamCreate(
                    started_at=now, narrative=f"{CANARY_EXAM} {CANARY}"))
                item = collect_item(s, actor=EXAMINER, case_id=c["id"], data=EvidenceItemCreate(
                    kind=ItemKind.KIT, description=f"kit of {CANARY}"))
                c["item"], c["collected"] = item.id, now
                truth.item_ids.append(item.id)
                if _in_fy(now):
                    truth.exams[(c["jur"], str(c["band"]))] += 1
            elif what == "release":
                t = offer_release(s, actor=EXAMINER, item_id=c["item"], data=TransferCreate(
                    to_user=OFFICER.id, reason="report", condition="sealed"))
                accept_transfer(s, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed"))
                if _in_fy(now):
                    truth.released[(c["jur"], str(c["band"]))] += 1
            elif what == "lab":
                t = offer_lab_submission(s, actor=OFFICER, item_id=c["item"], data=TransferCreate(
                    to_user=CRIME_LAB.id, reason="testing", condition="sealed"))
                accept_transfer(s, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
                if _in_fy(now):
                    truth.lab_days[c["jur"]].append((now - c["collected"]).total_seconds() / 86400)
            elif what == "analyse":
                record_analysis(s, actor=CRIME_LAB, item_id=c["item"], data=AnalysisCreate(reason="dna"))
                if _in_fy(now):
                    truth.tested[(c["jur"], str(c["band"]))] += 1
            s.commit()
    return truth
