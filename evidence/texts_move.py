"""`coc admin reencrypt`, free-text part: move clear text written before revision 0023 into case_text (sealed
under the case key) and leave only its commitment in the row — in the tables whose rows may change.

Moved: evidence_item.description / late_justification, evidence_file.original_name, item_custody.seal_number,
custody_transfer reason / condition / seal_number / accept_condition, integrity_incident.finding and
break_glass_grant.reason. Left as they are (counted as `texts_left`): the append-only rows (custody_event reason /
condition / seal_number, consent_decision.form_ref, advocacy_record.referral_to, consent_override legal_basis /
reference, care_record.late_justification, destruction_proposal reason / authority_ref),
which stay readable in clear, and ledger entries already written, which can never change. Erased cases are
skipped (no key). One ledger entry with counts when anything moved.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.clock import utcnow
from core.crypto import TextPurpose
from core.ledger import EventKind
from evidence.custody.models import CustodyEvent, Transfer
from evidence.destruction import DestructionProposal
from evidence.files import EvidenceFile
from evidence.incidents import IntegrityIncident
from evidence.items import EvidenceItem, ItemCustody
from policies.advocacy import AdvocacyRecord
from policies.authz import BreakGlassGrant
from policies.clinical import CareRecord
from policies.consent.models import ConsentDecision, ConsentOverride

# (model, how a row reaches its item (None: the row has item_id/id itself), columns → purpose)
MOVABLE = (
    (EvidenceItem, {"description": TextPurpose.DESCRIPTION, "late_justification": TextPurpose.JUSTIFICATION}),
    (EvidenceFile, {"original_name": TextPurpose.FILE_NAME}),
    (ItemCustody, {"seal_number": TextPurpose.SEAL_NUMBER}),
    (Transfer, {"reason": TextPurpose.REASON, "condition": TextPurpose.CONDITION,
                "seal_number": TextPurpose.SEAL_NUMBER, "accept_condition": TextPurpose.CONDITION}),
    (IntegrityIncident, {"finding": TextPurpose.FINDING}),
    (BreakGlassGrant, {"reason": TextPurpose.BREAK_GLASS}),
)
APPEND_ONLY = (
    (CustodyEvent, ("reason", "condition", "seal_number")),
    (ConsentDecision, ("form_ref",)),
    (AdvocacyRecord, ("referral_to",)),
    (ConsentOverride, ("legal_basis", "reference")),
    (CareRecord, ("late_justification",)),
    (DestructionProposal, ("reason", "authority_ref")),
)


class TextMoveReport(BaseModel):
    """What moving clear free text did."""

    texts_moved: int
    texts_left: int
    skipped_erased: int


def _case_of(session: Session, model: type, row: object) -> str:
    if isinstance(getattr(row, "case_id", None), str):  # items, incidents and break-glass grants name their case
        return row.case_id  # type: ignore[attr-defined]
    item = session.get(EvidenceItem, row.item_id)  # type: ignore[attr-defined]
    assert item is not None
    return item.case_id


def _clear(value: object) -> bool:
    return isinstance(value, str) and value != "" and value != crypto.ERASED_TEXT and not crypto.is_commitment(value)


def move_clear_texts(session: Session, *, actor: Actor, case_id: str | None = None,
                     keyring: crypto.KeyringLike = None, now: datetime | None = None) -> TextMoveReport:
    """Seal every clear free text of the movable tables (of one case, or all); count what must stay."""
    now = now or utcnow()
    moved = erased = 0
    for model, columns in MOVABLE:
        table = model.__table__  # type: ignore[attr-defined]
        query = select(model).where(or_(*(table.c[c].is_not(None) for c in columns)))
        for row in session.execute(query).scalars().all():
            row_case = _case_of(session, model, row)
            if case_id is not None and row_case != case_id:
                continue
            values = {c: getattr(row, c) for c in columns if _clear(getattr(row, c))}
            if not values:
                continue
            if crypto.erased_at(session, row_case) is not None:
                erased += len(values)
                continue
            kept = {c: crypto.keep_text(session, case_id=row_case, purpose=columns[c], text=v, keyring=keyring,
                                        now=now) for c, v in values.items()}
            pk = [table.c[k.name] == getattr(row, k.name) for k in table.primary_key.columns]
            session.execute(update(table).where(*pk).values(kept))
            moved += len(kept)
    left = 0
    for model, columns in APPEND_ONLY:
        table = model.__table__  # type: ignore[attr-defined]
        for column in columns:
            col = table.c[column]
            left += session.execute(select(func.count()).select_from(table).where(
                col.is_not(None), col != "", func.length(col) != 64)).scalar_one()
    session.flush()
    if moved:
        ledger.append(session, kind=EventKind.DATA_REENCRYPTED, actor=actor, case_id=case_id, at=now,
                      data={"texts_moved": moved, "texts_left": left, "skipped_erased": erased})
    return TextMoveReport(texts_moved=moved, texts_left=left, skipped_erased=erased)
