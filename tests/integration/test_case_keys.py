"""Per-case keys on SQLite and PostgreSQL: values bound to their row, legacy Fernet rows read and re-encrypted,
centre-key rotation, commitments, and the crypto-shredded case (core.crypto, policies.reencrypt)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import CaseCreate, CaseIdentity
from core.crypto import CaseKey, Keyring
from core.errors import ConfigError, Erased, IntegrityViolation
from core.ledger import EventKind
from policies import advocacy, cases, clinical, consent
from policies.consent import ConsentDecisionCreate, Decision, Method
from policies.handoffs import ConsentScope
from policies.reencrypt import reencrypt_legacy

A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
RING_A = Keyring.from_secrets(A)
ADVOCATE = Actor(id="U-advocate-1", role="advocate")
ADMIN = Actor(id="U-coordinator-1", role="coordinator")
NAME = "Canary Survivorname"


def _entries(session, kind):
    return list(session.execute(sa.select(ledger.LedgerEntry).where(ledger.LedgerEntry.kind == kind)
                                .order_by(ledger.LedgerEntry.seq)).scalars())


def _case(session, examiner, clock, *, exam: str | None = None, key=RING_A, legacy: bool = False):
    case = cases.open_case(session, actor=examiner, data=CaseCreate(assault_at=clock.now() - timedelta(hours=5)))
    # A written consent's form reference is sealed under the case key (core.crypto.texts), which creates the key;
    # a case from before 0015 had none: its consent is recorded verbally here.
    decision = ConsentDecisionCreate(scope=ConsentScope.FORENSIC_EXAM, decision=Decision.GRANTED,
                                     method=Method.VERBAL if legacy else Method.WRITTEN,
                                     form_ref=None if legacy else "F-1")
    with crypto.using_keyring(key):
        consent.record_decision(session, actor=examiner, case_id=case.id, data=decision)
    if exam is not None:
        clinical.record_exam(session, actor=examiner, case_id=case.id, key=key, data=clinical.ExamCreate(
            started_at=clock.now() - timedelta(hours=1), narrative=exam))
    return case


def _identity(session, examiner, case_id, name=NAME, key=RING_A):
    cases.set_identity(session, actor=examiner, case_id=case_id, identity=cases.IdentityIn(full_name=name), key=key)


def _read_name(session, examiner, case_id, key=RING_A) -> str:
    return cases.read_identity(session, actor=examiner, case_id=case_id, key=key).full_name


def test_a_ciphertext_moved_to_another_row_or_case_does_not_open(session, examiner, clock):
    case = _case(session, examiner, clock, exam="first narrative")
    clinical.record_exam(session, actor=examiner, case_id=case.id, key=RING_A, data=clinical.ExamCreate(
        started_at=clock.now(), narrative="second narrative"))
    other = _case(session, examiner, clock)
    _identity(session, examiner, case.id)
    _identity(session, examiner, other.id, name="Other Person")
    for notes in ("plan one", "plan two"):
        advocacy.record_advocacy(session, actor=ADVOCATE, case_id=case.id, key=RING_A, data=advocacy.AdvocacyCreate(
            kind=advocacy.RecordKind.SAFETY_PLAN, status=advocacy.RecordStatus.COMPLETED, notes=notes))
    session.commit()
    assert [e.narrative for e in clinical.read_exams(session, actor=examiner, case_id=case.id, key=RING_A)] == [
        "first narrative", "second narrative"]
    raw = {r.id: bytes(r.narrative_ciphertext) for r in session.execute(sa.select(clinical.ExamRecord)).scalars()}
    assert all(crypto.is_sealed(v) and b"narrative" not in v for v in raw.values())
    first, second = sorted(raw)
    # Someone with database access swaps the two narratives (the trigger lets only this column change).
    session.execute(sa.text("UPDATE exam_record SET narrative_ciphertext = :v WHERE id = :i"),
                    {"v": raw[first], "i": second})
    session.commit()
    with pytest.raises(IntegrityViolation, match="does not belong to this row"):
        clinical.read_exams(session, actor=examiner, case_id=case.id, key=RING_A)
    # An identity copied onto another case's row: another case key and another row id.
    token = session.get(CaseIdentity, case.id).ciphertext
    session.execute(sa.text("UPDATE case_identity SET ciphertext = :v WHERE case_id = :c"), {"v": token, "c": other.id})
    session.commit()
    session.expire_all()
    with pytest.raises(IntegrityViolation):
        _read_name(session, examiner, other.id)
    assert _read_name(session, examiner, case.id) == NAME
    # Safety-plan notes moved between the case's rows.
    notes = session.execute(sa.text("SELECT id, notes_ciphertext FROM advocacy_record ORDER BY id")).all()
    session.execute(sa.text("UPDATE advocacy_record SET notes_ciphertext = :v WHERE id = :i"),
                    {"v": bytes(notes[0][1]), "i": notes[1][0]})
    session.commit()
    with pytest.raises(IntegrityViolation):
        advocacy.list_advocacy(session, case.id, include_notes=True, key=RING_A)


def test_append_only_triggers_still_refuse_every_other_change(engine, session, examiner, clock):
    case = _case(session, examiner, clock, exam="narrative")
    advocacy.record_advocacy(session, actor=ADVOCATE, case_id=case.id, key=RING_A, data=advocacy.AdvocacyCreate(
        kind=advocacy.RecordKind.SAFETY_PLAN, status=advocacy.RecordStatus.COMPLETED, notes="plan"))
    session.commit()
    for statement in ("UPDATE exam_record SET recorded_by = 'someone-else'", "DELETE FROM exam_record",
                      "UPDATE advocacy_record SET status = 'declined'",
                      "UPDATE exam_record SET recorded_by = 'x', narrative_ciphertext = narrative_ciphertext"):
        with Session(engine) as s, pytest.raises(DBAPIError, match="append-only"):
            s.execute(sa.text(statement))
    assert session.execute(sa.text("SELECT recorded_by FROM exam_record")).scalar_one() == examiner.id
    assert case.id


def _legacy_rows(session, examiner, clock):
    """A case written before 0015: Fernet values under centre key A, rows inserted as the old code did."""
    case = _case(session, examiner, clock, legacy=True)
    entry = ledger.append(session, kind=EventKind.EXAM_RECORDED, actor=examiner, case_id=case.id, data={})
    session.add(CaseIdentity(case_id=case.id, stored_at=clock.now(), ciphertext=crypto.encrypt_text(
        json.dumps({"full_name": NAME, "date_of_birth": None, "contact": None}), key=A)))
    session.add(clinical.ExamRecord(case_id=case.id, started_at=clock.now(), recorded_at=clock.now(),
                                    narrative_ciphertext=crypto.encrypt_text("old narrative", key=A),
                                    recorded_by=examiner.id, ledger_seq=entry.seq))
    session.add(advocacy.AdvocacyRecord(case_id=case.id, kind="safety-plan", status="completed",
                                        notes_ciphertext=crypto.encrypt_text("old plan", key=A),
                                        recorded_at=clock.now(), recorded_by=ADVOCATE.id, ledger_seq=entry.seq))
    session.commit()
    return case


def _reads(session, examiner, case_id, key):
    return (_read_name(session, examiner, case_id, key=key),
            [e.narrative for e in clinical.read_exams(session, actor=examiner, case_id=case_id, key=key)],
            [r.notes for r in advocacy.list_advocacy(session, case_id, include_notes=True, key=key)])


def test_legacy_rows_stay_readable_and_are_reencrypted(session, examiner, clock):
    case = _legacy_rows(session, examiner, clock)
    expected = (NAME, ["old narrative"], ["old plan"])
    assert _reads(session, examiner, case.id, RING_A) == expected
    # After a rotation the old key is retired: legacy values are still read with it.
    assert _reads(session, examiner, case.id, Keyring.from_secrets(B, [A])) == expected
    report = reencrypt_legacy(session, actor=ADMIN, keyring=Keyring.from_secrets(B, [A]))
    session.commit()
    assert (report.rewritten, report.already_sealed, report.cases) == (3, 0, 1)
    session.expire_all()
    tokens = [bytes(t) for t in session.execute(sa.text(
        "SELECT ciphertext FROM case_identity UNION ALL SELECT narrative_ciphertext FROM exam_record "
        "UNION ALL SELECT notes_ciphertext FROM advocacy_record")).scalars()]
    assert len(tokens) == 3 and all(crypto.is_sealed(t) for t in tokens)
    assert _reads(session, examiner, case.id, Keyring.from_secrets(B)) == expected  # A no longer needed
    [entry] = _entries(session, EventKind.DATA_REENCRYPTED)
    assert json.loads(entry.body)["data"]["rewritten"] == 3 and NAME.encode() not in bytes(entry.body)
    again = reencrypt_legacy(session, actor=ADMIN, keyring=Keyring.from_secrets(B))
    assert (again.rewritten, again.already_sealed) == (0, 3)


def test_rotation_rewraps_case_keys_without_reencrypting_data(session, examiner, clock):
    case = _case(session, examiner, clock, exam="narrative under A")
    _identity(session, examiner, case.id)
    session.commit()
    narrative_before = session.execute(sa.text("SELECT narrative_ciphertext FROM exam_record")).scalar_one()
    with pytest.raises(ConfigError, match="not in the keyring"):
        _read_name(session, examiner, case.id, key=Keyring.from_secrets(B))
    ring_b = Keyring.from_secrets(B, [A])
    assert _read_name(session, examiner, case.id, key=ring_b) == NAME
    report = crypto.rewrap_case_keys(session, actor=ADMIN, keyring=ring_b)
    session.commit()
    assert (report.rewrapped, report.already_current, report.erased, report.total) == (1, 0, 0, 1)
    assert session.get(CaseKey, case.id).key_id == ring_b.current.key_id
    only_b = Keyring.from_secrets(B)
    assert _read_name(session, examiner, case.id, key=only_b) == NAME
    assert clinical.read_exams(session, actor=examiner, case_id=case.id, key=only_b)[0].narrative == "narrative under A"
    assert session.execute(sa.text("SELECT narrative_ciphertext FROM exam_record")).scalar_one() == narrative_before
    assert crypto.rewrap_case_keys(session, actor=ADMIN, keyring=only_b).already_current == 1
    entry = _entries(session, EventKind.CENTRE_KEY_ROTATED)[0]
    assert json.loads(entry.body)["data"]["rewrapped"] == 1


def test_commitments_and_a_destroyed_case_key(session, examiner, clock):
    case = _case(session, examiner, clock, exam="narrative")
    _identity(session, examiner, case.id)
    value = crypto.commit_text(session, case_id=case.id, text="reason typed by staff", keyring=RING_A)
    assert crypto.verify_commitment(session, case.id, "reason typed by staff", value, keyring=RING_A)
    assert not crypto.verify_commitment(session, case.id, "another reason", value, keyring=RING_A)
    other = _case(session, examiner, clock)
    assert crypto.commit_text(session, other.id, "reason typed by staff", keyring=RING_A) != value
    crypto.destroy_case_key(session, case_id=case.id, now=clock.now())
    session.commit()
    row = session.get(CaseKey, case.id)
    assert row.wrapped is None and row.key_id is None and row.erased_at is not None
    for attempt in (lambda: crypto.commit_text(session, case.id, "reason typed by staff", keyring=RING_A),
                    lambda: crypto.verify_commitment(session, case.id, "reason typed by staff", value, keyring=RING_A),
                    lambda: _read_name(session, examiner, case.id),
                    lambda: clinical.read_exams(session, actor=examiner, case_id=case.id, key=RING_A),
                    lambda: advocacy.list_advocacy(session, case.id, include_notes=True, key=RING_A),
                    lambda: _identity(session, examiner, case.id)):
        with pytest.raises(Erased, match="erased on 2026-03-01 22:00 UTC") as err:
            attempt()
        assert NAME not in str(err.value)
        session.rollback()
