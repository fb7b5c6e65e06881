"""Rewrite legacy values (Fernet under the centre key, written before revision 0015) row-bound under the case key.

Every encrypted column of the case data: case_identity.ciphertext, exam_record.narrative_ciphertext,
advocacy_record.notes_ciphertext, and the case review's case_review_decision / case_review_action .text_ciphertext
(written under the centre key before revision 0025; their case is their review's). Each value is decrypted, sealed
again and checked to open to the same text before the row is updated (the append-only triggers of exam_record,
advocacy_record and case_review_decision allow only the ciphertext column to change). Erased cases are skipped
(their data can no longer be read). One ledger entry with counts when anything was rewritten."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, select, update
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import CaseIdentity
from core.clock import utcnow
from core.errors import IntegrityViolation
from core.ledger import EventKind
from policies.advocacy import AdvocacyRecord
from policies.clinical import ExamRecord
from policies.review.models import Review, ReviewAction, ReviewDecision

# (model, primary-key attribute, ciphertext attribute); a table with no case_id reaches it through its review
ENCRYPTED_COLUMNS = (
    (CaseIdentity, "case_id", "ciphertext"),
    (ExamRecord, "id", "narrative_ciphertext"),
    (AdvocacyRecord, "id", "notes_ciphertext"),
    (ReviewDecision, "id", "text_ciphertext"),
    (ReviewAction, "id", "text_ciphertext"),
)


def _query(model: type, pk: str, column: str) -> tuple[Select, ColumnElement]:
    """SELECT (row id, case id, ciphertext) of the model's encrypted values, and the case id column to filter."""
    table = model.__table__  # type: ignore[attr-defined]
    if "case_id" in table.c:
        case_col = table.c.case_id
        query = select(table.c[pk], case_col, table.c[column])
    else:
        review = Review.__table__  # type: ignore[attr-defined]
        case_col = review.c.case_id
        query = select(table.c[pk], case_col, table.c[column]).join(review, review.c.id == table.c.review_id)
    return query.where(table.c[column].is_not(None)), case_col


class ReencryptReport(BaseModel):
    """What a re-encryption did."""

    rewritten: int
    already_sealed: int
    skipped_erased: int
    cases: int
    # free text moved out of the clear (evidence.texts_move, filled in by the route) and clear text left in
    # append-only rows
    texts_moved: int = 0
    texts_left: int = 0


def reencrypt_legacy(session: Session, *, actor: Actor, case_id: str | None = None,
                     keyring: crypto.KeyringLike = None, now: datetime | None = None) -> ReencryptReport:
    """Rewrite every legacy value (of one case, or all) in the row-bound format; ledgered with counts."""
    now = now or utcnow()
    ring = crypto.resolve_keyring(keyring)
    counts = {"rewritten": 0, "already_sealed": 0, "skipped_erased": 0}
    cases: set[str] = set()
    for model, pk, column in ENCRYPTED_COLUMNS:
        table = model.__table__
        query, case_col = _query(model, pk, column)
        if case_id is not None:
            query = query.where(case_col == case_id)
        for row_id, row_case, token in session.execute(query.order_by(table.c[pk])).all():
            if crypto.is_sealed(token):
                counts["already_sealed"] += 1
                continue
            if crypto.erased_at(session, row_case) is not None:
                counts["skipped_erased"] += 1
                continue
            plaintext = crypto.open_legacy(ring, token).decode("utf-8")
            where = dict(case_id=row_case, table=table.name, column=column, row_id=row_id, keyring=ring)
            sealed = crypto.seal_text(session, plaintext=plaintext, now=now, **where)
            if crypto.open_text(session, token=sealed, **where) != plaintext:
                raise IntegrityViolation("a re-encrypted value did not open to its text: nothing was rewritten")
            session.execute(update(table).where(table.c[pk] == row_id).values({column: sealed}))
            counts["rewritten"] += 1
            cases.add(row_case)
    session.flush()
    if counts["rewritten"]:
        ledger.append(session, kind=EventKind.DATA_REENCRYPTED, actor=actor, case_id=case_id, at=now,
                      data={**counts, "cases": len(cases)})
    return ReencryptReport(cases=len(cases), **counts)
