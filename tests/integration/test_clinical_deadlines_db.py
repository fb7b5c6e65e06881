"""Exam, care, advocacy records and the deadline clocks/alerts on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from core import crypto, ledger
from core.actors import Actor, system_actor
from core.cases import CaseCreate, Reporting
from core.errors import ConsentRequired
from core.ledger import EventKind
from policies import advocacy, cases, checkpoint, clinical, consent, deadlines
from policies.consent import ConsentDecisionCreate, Decision, Method
from policies.deadlines import ClockName, ClockStatus
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff as H

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _centre_key():
    """Every service call of these tests runs under KEY (free text is sealed under the case key, which KEY wraps)."""
    with crypto.using_keyring(KEY):
        yield
ADVOCATE = Actor(id="U-advocate-1", role="advocate")
WATCH = system_actor("deadline-watch")


def _grant(session, actor, case_id, scope, **kw):
    kw.setdefault("method", Method.WRITTEN)
    kw.setdefault("form_ref", "F-1")
    kw.setdefault("decision", Decision.GRANTED)
    consent.record_decision(session, actor=actor, case_id=case_id, data=ConsentDecisionCreate(scope=scope, **kw))


def _open(session, examiner, clock, hours_ago=10, **kw):
    return cases.open_case(session, actor=examiner,
                           data=CaseCreate(assault_at=clock.now() - timedelta(hours=hours_ago), **kw))


def test_exam_narrative_encrypted_and_advocate_read_through_checkpoint(engine, session, examiner, clock):
    case = _open(session, examiner, clock)
    exam = clinical.ExamCreate(started_at=clock.now() - timedelta(hours=1), ended_at=clock.now(),
                               narrative="detailed history text")
    with pytest.raises(ConsentRequired, match="forensic-exam"):
        clinical.record_exam(session, actor=examiner, case_id=case.id, data=exam, key=KEY)
    _grant(session, examiner, case.id, S.FORENSIC_EXAM)
    clinical.record_exam(session, actor=examiner, case_id=case.id, data=exam, key=KEY)
    session.commit()
    raw = session.execute(sa.text("SELECT narrative_ciphertext FROM exam_record")).scalar_one()
    assert b"detailed history" not in bytes(raw)
    assert b"detailed history" not in b"".join(bytes(e.body) for e in session.query(ledger.LedgerEntry))
    assert clinical.read_exams(session, actor=examiner, case_id=case.id, key=KEY)[0].narrative == exam.narrative
    with pytest.raises(ConsentRequired, match="share-with-advocate"):
        clinical.read_exams(session, actor=ADVOCATE, case_id=case.id, key=KEY)
    _grant(session, examiner, case.id, S.SHARE_ADVOCATE, expires_at=clock.now() + timedelta(days=90))
    assert clinical.read_exams(session, actor=ADVOCATE, case_id=case.id, key=KEY)[0].narrative == exam.narrative


def test_pep_alert_raised_once_and_stopped_by_care(session, examiner, clock):
    case = _open(session, examiner, clock, hours_ago=60)
    assert deadlines.scan_deadlines(session, actor=WATCH) == []
    clock.advance(timedelta(hours=7))  # 67 h after the assault: PEP closes in 5 h
    raised = deadlines.scan_deadlines(session, actor=WATCH)
    assert [a.message for a in raised] == ["PEP window closes in 5 h"]
    assert ledger.decode(session.get(ledger.LedgerEntry, raised[0].ledger_seq))["kind"] == EventKind.ALERT_RAISED
    clock.advance(timedelta(hours=1))
    assert deadlines.scan_deadlines(session, actor=WATCH) == []  # never the same alert twice
    # EC: window 120 h. An offer the survivor is still considering keeps the alarm running (PEP/EC must not
    # be forgotten); a decision either way stops it.
    clinical.record_care(session, actor=examiner, case_id=case.id, data=clinical.CareCreate(
        care=clinical.CareKind.EMERGENCY_CONTRACEPTION, status=clinical.CareStatus.OFFERED, occurred_at=clock.now()))
    clock.advance(timedelta(hours=47))  # 115 h after the assault
    messages = [a.message for a in deadlines.scan_deadlines(session, actor=WATCH)]
    assert "emergency contraception window closes in 5 h" in messages
    clinical.record_care(session, actor=examiner, case_id=case.id, data=clinical.CareCreate(
        care=clinical.CareKind.EMERGENCY_CONTRACEPTION, status=clinical.CareStatus.DECLINED, occurred_at=clock.now()))
    clock.advance(timedelta(hours=3))
    assert deadlines.scan_deadlines(session, actor=WATCH) == []
    clocks = {c.name: c for c in deadlines.case_clocks(session, case.id)}
    assert clocks[ClockName.HIV_PEP].status is ClockStatus.EXPIRED
    assert clocks[ClockName.EMERGENCY_CONTRACEPTION].status is ClockStatus.MET


def test_giving_care_needs_medical_consent(session, examiner, clock):
    case = _open(session, examiner, clock)
    care = clinical.CareCreate(care=clinical.CareKind.HIV_PEP, status=clinical.CareStatus.GIVEN,
                               occurred_at=clock.now())
    with pytest.raises(ConsentRequired):
        clinical.record_care(session, actor=examiner, case_id=case.id, data=care)
    _grant(session, examiner, case.id, S.MEDICAL_CARE, method=Method.VERBAL, form_ref=None)
    row = clinical.record_care(session, actor=examiner, case_id=case.id, data=care)
    assert [r.id for r in clinical.list_care(session, case.id)] == [row.id]


def test_kit_with_law_enforcement_not_submitted_alert(session, examiner, clock):
    case = _open(session, examiner, clock, jurisdiction="us-wa", reporting=Reporting.UNRESTRICTED)
    item = "E0000000000000001"
    _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT)
    checkpoint.enforce(session, case_id=case.id, handoff=H.RELEASE_LAW_ENFORCEMENT, actor=examiner,
                       subject={"item_id": item})
    # the evidence package's entries, as its ledger data describes them (policies read kinds and data only)
    ledger.append(session, kind=EventKind.RELEASED, actor=examiner, case_id=case.id, item_id=item,
                  data={"purpose": "release"})
    clock.advance(timedelta(days=29))
    assert not [a for a in deadlines.scan_deadlines(session, actor=WATCH) if a.item_id == item]
    clock.advance(timedelta(days=2))
    kit = [a for a in deadlines.scan_deadlines(session, actor=WATCH) if a.item_id == item]
    assert [a.message for a in kit] == ["kit with law enforcement 31 days, not submitted to a lab"]
    assert deadlines.scan_deadlines(session, actor=WATCH) == []
    ledger.append(session, kind=EventKind.TRANSFER_ACCEPTED, actor=examiner, case_id=case.id, item_id=item,
                  data={"purpose": "lab"})  # what evidence.custody writes when the lab accepts
    clocks = {c.name: c for c in deadlines.case_clocks(session, case.id) if c.item_id == item}
    assert clocks[ClockName.LAB_SUBMISSION].status is ClockStatus.MET
    assert clocks[ClockName.LAB_ANALYSIS].status is ClockStatus.RUNNING
    assert clocks[ClockName.LAB_ANALYSIS].deadline == clock.now() + timedelta(days=45)
    assert [a.id for a in deadlines.list_alerts(session, case_id=case.id)]


def test_michigan_pickup_and_notification_clocks(session, examiner, clock):
    case = _open(session, examiner, clock, jurisdiction="us-mi", reporting=Reporting.UNRESTRICTED)
    item = "E0000000000000002"
    _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT)
    checkpoint.enforce(session, case_id=case.id, handoff=H.RELEASE_LAW_ENFORCEMENT, actor=examiner,
                       subject={"item_id": item})
    clocks = {c.name: c for c in deadlines.case_clocks(session, case.id) if c.item_id == item}
    assert clocks[ClockName.POLICE_PICKUP].deadline == clock.now() + timedelta(days=14)
    assert clocks[ClockName.FACILITY_NOTIFY_POLICE].deadline == clock.now() + timedelta(hours=24)
    clock.advance(timedelta(days=15))
    messages = {a.message for a in deadlines.scan_deadlines(session, actor=WATCH) if a.item_id == item}
    assert "kit released 15 days ago, not yet taken by law enforcement" in messages


def test_advocacy_records_and_encrypted_safety_plan(session, examiner, clock):
    case = _open(session, examiner, clock)
    advocacy.record_advocacy(session, actor=ADVOCATE, case_id=case.id, data=advocacy.AdvocacyCreate(
        kind=advocacy.RecordKind.SERVICE, service=advocacy.Service.SHELTER, status=advocacy.RecordStatus.ACCEPTED))
    advocacy.record_advocacy(session, actor=ADVOCATE, case_id=case.id, data=advocacy.AdvocacyCreate(
        kind=advocacy.RecordKind.REFERRAL, service=advocacy.Service.LEGAL_AID, status=advocacy.RecordStatus.OFFERED,
        referral_to="County Legal Aid"))
    advocacy.record_advocacy(session, actor=ADVOCATE, case_id=case.id, key=KEY, data=advocacy.AdvocacyCreate(
        kind=advocacy.RecordKind.SAFETY_PLAN, status=advocacy.RecordStatus.COMPLETED, notes="code word plan"))
    advocacy.record_advocacy(session, actor=ADVOCATE, case_id=case.id, data=advocacy.AdvocacyCreate(
        kind=advocacy.RecordKind.FOLLOW_UP, status=advocacy.RecordStatus.SCHEDULED,
        due_at=clock.now() + timedelta(weeks=1)))
    plain = advocacy.list_advocacy(session, case.id)
    assert [r.notes for r in plain] == [None] * 4 and plain[2].has_notes
    assert advocacy.list_advocacy(session, case.id, include_notes=True, key=KEY)[2].notes == "code word plan"
    raw = session.execute(sa.text("SELECT notes_ciphertext FROM advocacy_record WHERE notes_ciphertext IS NOT NULL"))
    assert b"code word" not in bytes(raw.scalar_one())
    assert advocacy.due_follow_ups(session, case.id) == []
    clock.advance(timedelta(weeks=1))
    assert len(advocacy.due_follow_ups(session, case.id)) == 1
    kinds = [e.kind for e in session.query(ledger.LedgerEntry).filter_by(case_id=case.id).order_by("seq")]
    assert kinds.count(EventKind.REFERRAL_MADE) == 1 and kinds.count(EventKind.ADVOCACY_RECORDED) == 3


def test_ten_month_case_restricted_then_converted(session, examiner, clock):
    """Lives through ten months with the ManualClock: restricted kit kept untested, converted, then tested."""
    case = _open(session, examiner, clock, hours_ago=20, jurisdiction="us-tx", reporting=Reporting.RESTRICTED)
    item = "E0000000000000003"
    for scope in (S.MEDICAL_CARE, S.FORENSIC_EXAM, S.EVIDENCE_SWABS, S.RELEASE_LAW_ENFORCEMENT, S.LAB_TESTING):
        _grant(session, examiner, case.id, scope)
    assert checkpoint.decide(session, case_id=case.id, handoff=H.COLLECT_SWABS, actor=examiner).allowed
    ledger.append(session, kind=EventKind.ITEM_COLLECTED, actor=examiner, case_id=case.id, item_id=item, data={})
    session.commit()
    for _month in range(10):
        clock.advance(timedelta(days=30))
        d = checkpoint.decide(session, case_id=case.id, handoff=H.LAB_TESTING, actor=examiner,
                              subject={"item_id": item})
        assert not d.allowed and "not reported" in d.reason
        deadlines.scan_deadlines(session, actor=WATCH)
        session.commit()
    clocks = {c.name: c for c in deadlines.case_clocks(session, case.id) if c.item_id == item}
    assert clocks[ClockName.DESTRUCTION_NOTICE].status is ClockStatus.RUNNING  # 20-year retention, far off
    cases.change_reporting(session, actor=examiner, case_id=case.id, reporting=Reporting.UNRESTRICTED)
    session.commit()
    d = checkpoint.decide(session, case_id=case.id, handoff=H.LAB_TESTING, actor=examiner, subject={"item_id": item})
    assert d.allowed and len(d.relied_on) == 2
    with pytest.raises(Exception, match="cannot be changed"):
        cases.change_reporting(session, actor=examiner, case_id=case.id, reporting=Reporting.RESTRICTED)
    # the history is all there: ten denials, the conversion, the allowance; the chain verifies
    kinds = [e.kind for e in session.query(ledger.LedgerEntry).filter_by(case_id=case.id).order_by("seq")]
    assert kinds.count(EventKind.CHECKPOINT_DENIED) == 10 and kinds[-1] == EventKind.CHECKPOINT_ALLOWED
    assert ledger.verify_chain(session).ok


def test_each_toxicology_sample_meets_its_own_window_and_a_declined_consent_stops_the_alarm(session, examiner,
                                                                                           clock):
    """Collecting urine does not meet the 24 h blood window; a declined exam or toxicology consent stops the
    evidence and toxicology alarms (nobody is pushed to collect after a refusal)."""
    from evidence.items import EvidenceItemCreate, ItemKind, collect_item

    case = _open(session, examiner, clock, hours_ago=20)
    _grant(session, examiner, case.id, S.FORENSIC_EXAM)
    _grant(session, examiner, case.id, S.EVIDENCE_TOXICOLOGY)
    collect_item(session, actor=examiner, case_id=case.id, data=EvidenceItemCreate(
        kind=ItemKind.TOXICOLOGY_URINE, description="urine sample"), now=clock.now())
    clock.advance(timedelta(hours=10))  # 30 h: the blood window (24 h) has passed without a blood sample
    clocks = {c.name: c for c in deadlines.case_clocks(session, case.id)}
    assert clocks[ClockName.TOXICOLOGY_URINE].status is ClockStatus.MET
    assert clocks[ClockName.TOXICOLOGY_BLOOD].status is ClockStatus.EXPIRED

    other = _open(session, examiner, clock, hours_ago=110)
    _grant(session, examiner, other.id, S.FORENSIC_EXAM, decision=Decision.DECLINED)
    messages = [a.message for a in deadlines.scan_deadlines(session, actor=WATCH) if a.case_id == other.id]
    assert not any("evidence" in m or "toxicology" in m for m in messages)
    clocks = {c.name: c for c in deadlines.case_clocks(session, other.id)}
    assert clocks[ClockName.EVIDENCE_COLLECTION].status is ClockStatus.MET


def test_destruction_notice_follows_the_items_own_retention_date(session, examiner, clock):
    """The notice clock counts back from the retention date destruction will enforce, not a pack default."""
    from evidence.items import EvidenceItemCreate, ItemKind, collect_item
    from policies.jurisdictions import get_pack

    case = _open(session, examiner, clock, reporting=Reporting.RESTRICTED)
    _grant(session, examiner, case.id, S.FORENSIC_EXAM)
    # a preservation extended past the pack's 20 years (a shorter date is refused at collection)
    retention = clock.now() + timedelta(days=7300 + 400)
    item = collect_item(session, actor=examiner, case_id=case.id, data=EvidenceItemCreate(
        kind=ItemKind.KIT, description="kit", retention_until=retention), now=clock.now())
    notice = next(c for c in deadlines.case_clocks(session, case.id) if c.name is ClockName.DESTRUCTION_NOTICE)
    assert notice.item_id == item.id
    assert notice.deadline == retention - get_pack(case.jurisdiction).days("destruction_notice_days")


def test_hepatitis_b_window_alerts_and_is_met_by_a_decision(session, examiner, clock):
    """Hepatitis B prophylaxis: preferably within 24 h (domain.md); its alarm runs until given or declined."""
    case = _open(session, examiner, clock, hours_ago=19)  # 5 h left, inside the pack's clinical lead
    messages = [a.message for a in deadlines.scan_deadlines(session, actor=WATCH) if a.case_id == case.id]
    assert "hepatitis B prophylaxis window closes in 5 h" in messages
    _grant(session, examiner, case.id, S.MEDICAL_CARE)
    clinical.record_care(session, actor=examiner, case_id=case.id, data=clinical.CareCreate(
        care=clinical.CareKind.HEPATITIS_B, status=clinical.CareStatus.GIVEN, occurred_at=clock.now()))
    clocks = {c.name: c for c in deadlines.case_clocks(session, case.id)}
    assert clocks[ClockName.HEPATITIS_B].status is ClockStatus.MET
