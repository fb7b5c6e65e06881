"""Consent decisions and the checkpoint on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import ledger
from core.actors import Actor
from core.cases import AgeBand, CaseCreate, Reporting
from core.errors import ConsentRequired, ValidationFailed
from core.ledger import EventKind
from policies import cases, checkpoint, consent
from policies.consent import ConsentDecisionCreate, ConsentOverrideCreate, Decision, Method, OverrideBasis
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff as H


def _case(session, examiner, clock, **kw):
    kw.setdefault("reporting", Reporting.UNRESTRICTED)
    return cases.open_case(session, actor=examiner, data=CaseCreate(assault_at=clock.now() - timedelta(hours=5), **kw))


def _grant(session, actor, case_id, scope, method=Method.WRITTEN, **kw):
    if method in (Method.WRITTEN, Method.GUARDIAN):
        kw.setdefault("form_ref", "FORM-1")
    kw.setdefault("decision", Decision.GRANTED)
    data = ConsentDecisionCreate(scope=scope, method=method, **kw)
    return consent.record_decision(session, actor=actor, case_id=case_id, data=data)


def _decide(session, actor, case_id, handoff, **kw):
    return checkpoint.decide(session, case_id=case_id, handoff=handoff, actor=actor, **kw)


@pytest.mark.parametrize("handoff", list(H))
def test_every_handoff_is_refused_without_consent(session, examiner, clock, handoff):
    case = _case(session, examiner, clock)
    d = _decide(session, examiner, case.id, handoff)
    assert not d.allowed and d.consent_hash is None and "refused" in d.reason
    entry = session.get(ledger.LedgerEntry, d.ledger_seq)
    assert entry.kind == EventKind.CHECKPOINT_DENIED and entry.entry_hash == d.ledger_hash


def test_allowed_decision_cites_the_consent_entry(session, examiner, clock):
    case = _case(session, examiner, clock)
    row = _grant(session, examiner, case.id, S.MEDICAL_CARE, method=Method.VERBAL)
    d = _decide(session, examiner, case.id, H.MEDICAL_CARE)
    assert d.allowed and d.consent_hash == row.ledger_hash
    body = ledger.decode(session.get(ledger.LedgerEntry, d.ledger_seq))
    assert body["kind"] == EventKind.CHECKPOINT_ALLOWED and body["data"]["relied_on"] == [row.ledger_hash]
    assert ledger.verify_chain(session).ok


def test_release_needs_written_consent(session, examiner, clock):
    case = _case(session, examiner, clock)
    _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT, method=Method.VERBAL)
    d = _decide(session, examiner, case.id, H.RELEASE_LAW_ENFORCEMENT)
    assert not d.allowed and "written" in d.reason
    clock.advance(timedelta(minutes=1))
    _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT)
    assert _decide(session, examiner, case.id, H.RELEASE_LAW_ENFORCEMENT).allowed


def test_lab_testing_never_for_a_non_reported_kit(session, examiner, clock):
    case = _case(session, examiner, clock, reporting=Reporting.RESTRICTED)
    _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT)
    _grant(session, examiner, case.id, S.LAB_TESTING)
    d = _decide(session, examiner, case.id, H.LAB_TESTING)
    assert not d.allowed and "not reported" in d.reason
    cases.change_reporting(session, actor=examiner, case_id=case.id, reporting=Reporting.UNRESTRICTED)
    d = _decide(session, examiner, case.id, H.LAB_TESTING)
    assert d.allowed and len(d.relied_on) == 2
    assert not _decide(session, examiner, case.id, H.LAB_TESTING, subject={"reported": False}).allowed


def test_advocate_share_needs_written_unexpired_release(session, examiner, clock):
    case = _case(session, examiner, clock)
    with pytest.raises(ValueError, match="expiry"):
        ConsentDecisionCreate(scope=S.SHARE_ADVOCATE, decision=Decision.GRANTED, method=Method.WRITTEN,
                              form_ref="F-9")
    _grant(session, examiner, case.id, S.SHARE_ADVOCATE, expires_at=clock.now() + timedelta(days=30))
    assert _decide(session, examiner, case.id, H.ADVOCATE_SHARE).allowed
    clock.advance(timedelta(days=30))
    d = _decide(session, examiner, case.id, H.ADVOCATE_SHARE)
    assert not d.allowed and "expired" in d.reason


def test_withdrawal_takes_effect_at_once_and_runs_hooks(session, examiner, clock):
    case = _case(session, examiner, clock)
    calls = []

    def hook(s, case_id, scope, actor, now):
        calls.append((case_id, scope))

    consent.register_withdrawal_hook(hook)
    try:
        _grant(session, examiner, case.id, S.PHOTO_RECORD, method=Method.VERBAL)
        assert _decide(session, examiner, case.id, H.PHOTO_VIEW).allowed
        clock.advance(timedelta(minutes=5))
        consent.record_decision(session, actor=examiner, case_id=case.id, data=ConsentDecisionCreate(
            scope=S.PHOTO_RECORD, decision=Decision.WITHDRAWN, method=Method.VERBAL))
    finally:
        consent.unregister_withdrawal_hook(hook)
    assert calls == [(case.id, S.PHOTO_RECORD)]
    d = _decide(session, examiner, case.id, H.PHOTO_VIEW)
    assert not d.allowed and "withdrawn" in d.reason
    # nothing erased: both decisions remain, and the state an hour ago still shows the grant
    assert [r.decision for r in consent.list_decisions(session, case.id)] == [Decision.GRANTED, Decision.WITHDRAWN]
    past = consent.consent_state(session, case.id, clock.now() - timedelta(minutes=1))
    assert past[S.PHOTO_RECORD].granted


def test_minor_mandatory_report_override(session, examiner, clock):
    case = _case(session, examiner, clock, age_band=AgeBand.AGE_14_15, jurisdiction="us-tx")
    data = ConsentOverrideCreate(scope=S.REPORT_POLICE, basis=OverrideBasis.MANDATORY_REPORT_MINOR,
                                 legal_basis="Tex. Fam. Code 261.101")
    ov = consent.record_override(session, actor=examiner, case_id=case.id, data=data)
    d = _decide(session, examiner, case.id, H.DISCLOSE_IDENTITY_POLICE)
    # the decision cites the override's ledger entry; its legal basis (staff's text) stays out of the ledger
    assert d.allowed and d.consent_hash == ov.ledger_hash and f"override entry {ov.ledger_seq}" in d.reason
    assert "261.101" not in d.reason
    adult = _case(session, examiner, clock)
    with pytest.raises(ValidationFailed, match="does not apply"):
        consent.record_override(session, actor=examiner, case_id=adult.id, data=data)
    with pytest.raises(ValueError, match="cannot apply"):
        ConsentOverrideCreate(scope=S.MEDICAL_CARE, basis=OverrideBasis.COURT_ORDER, legal_basis="x", reference="O-1")


def test_under_age_of_consent_needs_a_guardian(session, examiner, clock):
    case = _case(session, examiner, clock, age_band=AgeBand.AGE_13, jurisdiction="us-tx")
    _grant(session, examiner, case.id, S.MEDICAL_CARE, method=Method.MINOR_ASSENT)
    assert not _decide(session, examiner, case.id, H.MEDICAL_CARE).allowed
    clock.advance(timedelta(minutes=1))
    _grant(session, examiner, case.id, S.MEDICAL_CARE, method=Method.GUARDIAN)
    assert _decide(session, examiner, case.id, H.MEDICAL_CARE).allowed


def test_a_guardian_cannot_decide_for_a_survivor_who_can_consent(session, examiner, clock):
    """A 16-17 year old in Texas (and any adult) consents for themselves: a guardian's grant is refused, so
    it can never override the survivor's own refusal."""
    for band, jurisdiction in ((AgeBand.AGE_16_17, "us-tx"), (AgeBand.ADULT, "us-wa")):
        case = _case(session, examiner, clock, age_band=band, jurisdiction=jurisdiction)
        _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT, decision=Decision.DECLINED)
        with pytest.raises(ValidationFailed, match="for themselves"):
            _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT, method=Method.GUARDIAN)
        assert not _decide(session, examiner, case.id, H.RELEASE_LAW_ENFORCEMENT).allowed


def test_enforce_commits_the_denial_and_raises(engine, session, examiner, clock):
    case = _case(session, examiner, clock)
    session.commit()
    with pytest.raises(ConsentRequired, match="photograph-view refused") as exc:
        checkpoint.enforce(session, case_id=case.id, handoff=H.PHOTO_VIEW, actor=examiner)
    session.rollback()  # the caller's rollback must not lose the denial
    with sa.orm.Session(engine) as other:
        entry = other.get(ledger.LedgerEntry, exc.value.extra["ledger_seq"])
        assert entry.kind == EventKind.CHECKPOINT_DENIED


def test_decisions_are_append_only(engine, session, examiner, clock):
    case = _case(session, examiner, clock)
    _grant(session, examiner, case.id, S.MEDICAL_CARE, method=Method.VERBAL)
    session.commit()
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text("UPDATE consent_decision SET decision = 'declined'"))
        conn.commit()


def test_recording_a_decision_wakes_the_pathway(session, examiner, clock):
    from core.outbox import OutboxKind, pending

    case = _case(session, examiner, clock)
    _grant(session, examiner, case.id, S.MEDICAL_CARE, method=Method.VERBAL)
    # Opening the case asks for its pathway run; the decision asks for a wake-up of that run.
    assert [(m.case_id, m.kind) for m in pending(session)] == [(case.id, OutboxKind.START_PATHWAY),
                                                               (case.id, OutboxKind.WAKE)]


def test_system_actor_is_refused_written_without_form(session, examiner, clock):
    with pytest.raises(ValueError, match="form_ref"):
        ConsentDecisionCreate(scope=S.MEDICAL_CARE, decision=Decision.GRANTED, method=Method.WRITTEN)
    assert Actor(id="system:x", role="system").is_system


def test_a_restricted_report_is_never_released_to_police_until_converted(session, examiner, clock):
    """Restricted/anonymous means no police involvement: even a written release is refused until the survivor
    converts the report to unrestricted; then the same consent allows it."""
    from policies import cases as case_service

    case = _case(session, examiner, clock, reporting=Reporting.RESTRICTED)
    _grant(session, examiner, case.id, S.RELEASE_LAW_ENFORCEMENT)
    d = _decide(session, examiner, case.id, H.RELEASE_LAW_ENFORCEMENT)
    assert not d.allowed and "not reported" in d.reason and "unrestricted" in d.reason
    case_service.change_reporting(session, actor=examiner, case_id=case.id, reporting=Reporting.UNRESTRICTED)
    assert _decide(session, examiner, case.id, H.RELEASE_LAW_ENFORCEMENT).allowed
