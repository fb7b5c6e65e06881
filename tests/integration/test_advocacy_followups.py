"""Advocacy that follows the survivor, on real SQLite and PostgreSQL: service decisions, referrals with outcomes,
contacts and safety-plan revisions behind the sharing release (every revision read access-logged); follow-ups
at 1 week, 6 weeks and 3 months raised for the assigned advocate, ended by a withdrawn consent; declining
advocacy leaves every other service working."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy import select

from core import crypto, ledger
from core.actors import Actor, system_actor
from core.cases import CaseCreate, Reporting
from core.errors import ConsentRequired, NotFound, PermissionDenied
from core.ledger import EventKind
from evidence import worklist
from flows.followups import follow_up_pass
from policies import advocacy, advocacy_followups, advocacy_records, authz, cases, checkpoint, clinical, consent
from policies.access import AccessLog
from policies.advocacy_models import ContactCreate, FollowUp, ReferralCreate, ServiceDecision
from policies.advocacy_rules import ContactKind, ContactOutcome, FollowUpOutcome, ReferralOutcome
from policies.authz import UserCreate, create_user
from policies.consent import ConsentDecisionCreate, Decision, Method
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff as H
from policies.permissions import Role
from tests.evidence_support import ensure_agency

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _centre_key():
    """Every service call of these tests runs under KEY (free text is sealed under the case key, which KEY wraps)."""
    with crypto.using_keyring(KEY):
        yield
SYS = system_actor("test")


def _kinds(session, case_id) -> list[str]:
    return list(session.scalars(select(ledger.LedgerEntry.kind).where(ledger.LedgerEntry.case_id == case_id)
                                .order_by(ledger.LedgerEntry.seq)))


def _decide(session, actor, case_id, scope, decision=Decision.GRANTED, **kw):
    kw.setdefault("method", Method.WRITTEN)
    kw.setdefault("form_ref", "F-1")
    consent.record_decision(session, actor=actor, case_id=case_id,
                            data=ConsentDecisionCreate(scope=scope, decision=decision, **kw))


def _advocate(session, case_id, name="adv-one") -> Actor:
    agency = ensure_agency(session, "centre")
    user = create_user(session, actor=SYS, data=UserCreate(username=name, role=Role.ADVOCATE, agency=agency),
                       password_hash="x")
    if case_id:
        authz.assign(session, actor=SYS, case_id=case_id, user_id=user.id)
    return Actor(id=user.id, role="advocate")


def _case_with_exam(session, examiner, clock, *, release=True):
    case = cases.open_case(session, actor=examiner, data=CaseCreate(assault_at=clock.now() - timedelta(hours=10),
                                                                    reporting=Reporting.UNRESTRICTED))
    _decide(session, examiner, case.id, S.MEDICAL_CARE)
    _decide(session, examiner, case.id, S.FORENSIC_EXAM)
    if release:
        _decide(session, examiner, case.id, S.SHARE_ADVOCATE, expires_at=clock.now() + timedelta(days=365))
    clinical.record_exam(session, actor=examiner, case_id=case.id, key=KEY, data=clinical.ExamCreate(
        started_at=clock.now() - timedelta(hours=1), ended_at=clock.now(), narrative="history"))
    session.commit()
    return case


def test_services_referrals_contacts_and_safety_plan_revisions(session, examiner, clock):
    case = _case_with_exam(session, examiner, clock)
    adv = _advocate(session, case.id)
    for service, status in [("counselling", "offered"), ("counselling", "accepted"), ("shelter", "declined"),
                            ("crisis-line", "accepted"), ("accompaniment", "offered")]:
        advocacy_records.record_service(session, actor=adv, case_id=case.id,
                                        data=ServiceDecision(service=service, status=status))
    ref = advocacy_records.record_referral(session, actor=adv, case_id=case.id,
                                           data=ReferralCreate(service="legal-aid", organisation="Legal Aid Org"))
    advocacy_records.record_referral_outcome(session, actor=adv, case_id=case.id, referral_id=ref.id,
                                             outcome=ReferralOutcome.ATTENDED)
    advocacy_records.record_contact(session, actor=adv, case_id=case.id, data=ContactCreate(
        kind=ContactKind.PHONE, outcome=ContactOutcome.NO_ANSWER, at=clock.now() - timedelta(minutes=5)))
    advocacy_records.revise_safety_plan(session, actor=adv, case_id=case.id, notes="plan v1", key=KEY)
    advocacy_records.revise_safety_plan(session, actor=adv, case_id=case.id, notes="plan v2 code word", key=KEY)
    session.commit()

    view = advocacy_records.advocacy_overview(session, actor=adv, case_id=case.id)
    assert {s.service.value: s.status.value for s in view.services} == {
        "counselling": "accepted", "shelter": "declined", "crisis-line": "accepted", "accompaniment": "offered"}
    assert [(r.organisation, r.outcome.value) for r in view.referrals] == [("Legal Aid Org", "attended")]
    assert [(c.contact_kind, c.outcome, c.recorded_by) for c in view.contacts] == [("phone", "no-answer", adv.id)]
    assert view.safety_plan_revisions == 2

    plans = advocacy_records.read_safety_plan(session, actor=adv, case_id=case.id, key=KEY)
    assert [(p.revision, p.notes) for p in plans] == [(1, "plan v1"), (2, "plan v2 code word")]
    assert advocacy_records.read_safety_plan(session, actor=adv, case_id=case.id, key=KEY, revision=1)[0].notes \
        == "plan v1"
    session.commit()
    logged = session.scalars(select(AccessLog).where(AccessLog.resource == advocacy_records.SAFETY_PLAN_RESOURCE)
                             .order_by(AccessLog.id)).all()
    assert [(row.user_id, row.object_id) for row in logged] == [(adv.id, str(plans[0].id)), (adv.id, str(plans[1].id)),
                                                                (adv.id, str(plans[0].id))]
    assert all(row.at == clock.now() for row in logged)
    with pytest.raises(NotFound, match="revision 3"):
        advocacy_records.read_safety_plan(session, actor=adv, case_id=case.id, key=KEY, revision=3)

    bodies = b"".join(bytes(e.body) for e in session.scalars(select(ledger.LedgerEntry)))
    assert b"code word" not in bodies and b"plan v1" not in bodies
    kinds = _kinds(session, case.id)
    assert kinds.count(EventKind.REFERRAL_OUTCOME) == 1 and kinds.count(EventKind.CONTACT_MADE) == 1
    with pytest.raises(sa.exc.DBAPIError):  # referral outcomes and contacts are append-only
        session.execute(sa.text("UPDATE advocacy_entry SET outcome = 'reached'"))
    session.rollback()


def test_advocacy_records_need_the_release_and_declining_it_leaves_every_other_service(session, examiner, clock):
    case = _case_with_exam(session, examiner, clock, release=False)
    _decide(session, examiner, case.id, S.SHARE_ADVOCATE, decision=Decision.DECLINED)
    adv = _advocate(session, case.id)
    session.commit()
    with pytest.raises(ConsentRequired, match="share-with-advocate"):
        advocacy_records.record_service(session, actor=adv, case_id=case.id,
                                        data=ServiceDecision(service="counselling", status="offered"))
    with pytest.raises(ConsentRequired):
        advocacy_records.record_contact(session, actor=adv, case_id=case.id,
                                        data=ContactCreate(kind="phone", outcome="reached"))
    with pytest.raises(ConsentRequired):
        advocacy_records.read_safety_plan(session, actor=adv, case_id=case.id, key=KEY)
    assert session.scalar(sa.select(sa.func.count()).select_from(advocacy.AdvocacyRecord)) == 0
    # Release is never a condition of service: exam (recorded above), evidence, care and release still work.
    _decide(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT)
    _decide(session, examiner, case.id, S.EVIDENCE_SWABS)
    assert checkpoint.decide(session, case_id=case.id, handoff=H.COLLECT_SWABS, actor=examiner).allowed
    assert checkpoint.decide(session, case_id=case.id, handoff=H.RELEASE_LAW_ENFORCEMENT, actor=examiner,
                             subject={"reported": True}).allowed
    assert checkpoint.decide(session, case_id=case.id, handoff=H.MEDICAL_CARE, actor=examiner).allowed
    assert len(clinical.read_exams(session, actor=examiner, case_id=case.id, key=KEY)) == 1
    # ... and the follow-ups it ended raise no task for the advocate.
    assert follow_up_pass(session, case.id, clock.now() + timedelta(days=8)) is None
    assert worklist.work_queue(session, actor=adv, now=clock.now() + timedelta(days=8)) == []


def test_follow_ups_come_due_at_1_week_6_weeks_3_months_for_the_assigned_advocate(session, examiner, clock):
    case = _case_with_exam(session, examiner, clock)
    adv = _advocate(session, case.id)
    other = _advocate(session, None, name="adv-two")
    exam_end = clock.now()
    assert follow_up_pass(session, case.id, clock.now()) == exam_end + timedelta(days=7)
    rows = advocacy_followups.list_follow_ups(session, case.id)
    assert [(r.name, r.checks) for r in rows] == [("1-week", "pep-adherence,sti-retest,pregnancy-test"),
                                                  ("6-weeks", "hiv-retest,sti-retest"), ("3-months", "hiv-retest")]
    session.commit()
    assert worklist.work_queue(session, actor=adv) == []

    seen = []
    for days, next_wait in [(7, 42), (42, 90), (90, None)]:
        clock.set(exam_end + timedelta(days=days))
        assert follow_up_pass(session, case.id, clock.now()) == (
            exam_end + timedelta(days=next_wait) if next_wait else None)
        session.commit()
        tasks = worklist.work_queue(session, actor=adv)
        assert [t.kind for t in tasks] == ["follow-up-due"]
        seen.append(tasks[0].what.split(":")[0])
        assert worklist.work_queue(session, actor=other) == []  # not assigned: nothing
        with pytest.raises(PermissionDenied, match="assigned"):
            advocacy_followups.record_follow_up_outcome(session, actor=other, case_id=case.id,
                                                        follow_up_id=int(tasks[0].ref), outcome="done")
        outcome = {7: FollowUpOutcome.DONE, 42: FollowUpOutcome.MISSED, 90: FollowUpOutcome.DECLINED}[days]
        advocacy_followups.record_follow_up_outcome(session, actor=adv, case_id=case.id,
                                                    follow_up_id=int(tasks[0].ref), outcome=outcome)
        session.commit()
        assert worklist.work_queue(session, actor=adv) == []
    assert seen == ["1-week", "6-weeks", "3-months"]
    assert [r.outcome for r in advocacy_followups.list_follow_ups(session, case.id)] == ["done", "missed", "declined"]
    kinds = _kinds(session, case.id)
    assert kinds.count(EventKind.FOLLOW_UP_DUE) == 3 and kinds.count(EventKind.FOLLOW_UP_OUTCOME) == 3
    assert follow_up_pass(session, case.id, clock.now()) is None  # raised once each, nothing twice
    assert _kinds(session, case.id).count(EventKind.FOLLOW_UP_DUE) == 3


def test_not_yet_due_and_unknown_follow_ups_are_refused(session, examiner, clock):
    case = _case_with_exam(session, examiner, clock)
    adv = _advocate(session, case.id)
    follow_up_pass(session, case.id, clock.now())
    first = advocacy_followups.list_follow_ups(session, case.id)[0]
    with pytest.raises(Exception, match="not due until"):
        advocacy_followups.record_follow_up_outcome(session, actor=adv, case_id=case.id, follow_up_id=first.id,
                                                    outcome="done")
    with pytest.raises(NotFound, match="no follow-up 9999"):
        advocacy_followups.record_follow_up_outcome(session, actor=adv, case_id=case.id, follow_up_id=9999,
                                                    outcome="done")


@pytest.mark.parametrize("scope", [S.SHARE_ADVOCATE, S.MEDICAL_CARE])
def test_a_withdrawn_consent_ends_the_follow_ups(session, examiner, clock, scope):
    case = _case_with_exam(session, examiner, clock)
    adv = _advocate(session, case.id)
    exam_end = clock.now()
    follow_up_pass(session, case.id, clock.now())
    clock.set(exam_end + timedelta(days=8))
    follow_up_pass(session, case.id, clock.now())
    session.commit()
    assert len(worklist.work_queue(session, actor=adv)) == 1
    _decide(session, examiner, case.id, scope, decision=Decision.WITHDRAWN)  # the bootstrap hook ends them
    session.commit()
    assert [r.outcome for r in advocacy_followups.list_follow_ups(session, case.id)] == ["ended"] * 3
    assert worklist.work_queue(session, actor=adv, now=exam_end + timedelta(days=100)) == []
    assert follow_up_pass(session, case.id, exam_end + timedelta(days=100)) is None
    assert EventKind.FOLLOW_UPS_ENDED in _kinds(session, case.id)


def test_follow_ups_are_scheduled_once_per_case(session, examiner, clock):
    case = _case_with_exam(session, examiner, clock)
    first = [r.id for r in advocacy_followups.schedule_follow_ups(session, actor=SYS, case_id=case.id)]
    assert [r.id for r in advocacy_followups.schedule_follow_ups(session, actor=SYS, case_id=case.id)] == first
    session.commit()
    row = advocacy_followups.list_follow_ups(session, case.id)[0]
    session.add(FollowUp(case_id=case.id, name=row.name, checks=row.checks, due_at=row.due_at,
                         scheduled_at=clock.now()))
    with pytest.raises(sa.exc.IntegrityError):  # a second run scheduling at the same instant fails, not doubles
        session.flush()
    session.rollback()
    assert _kinds(session, case.id).count(EventKind.FOLLOW_UP_SCHEDULED) == 1
