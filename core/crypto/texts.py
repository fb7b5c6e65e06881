"""Free text staff type (transfer reasons, conditions, seal numbers, form references, referral names, item
descriptions, file names, late justifications, override legal bases and references, lab report and destruction
references, incident reasons and findings, break-glass reasons) kept OUT of the permanent ledger and out of the clear.

The text is stored once per case and commitment in `case_text`, encrypted under the case key (AAD
"case_text:ciphertext:<row id>"). Every other place — the domain row's column and the ledger entry's field —
holds only the commitment (`crypto.commit_text`: hex HMAC-SHA256 under a subkey of the case key). A read
resolves a commitment back to its text (`show_text`); after a lawful erasure the key is gone, the text reads
`ERASED_TEXT`, and the ledger, whose bodies never held the text, still verifies.

Rows written before revision 0023 hold the clear text in the domain column: `show_text` returns a value that is
not a known commitment of the case as it is (legacy), so old rows stay readable.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from core.clock import utcnow
from core.crypto.service import KeyringLike, commit_text, erased_at, open_text, seal_text, verify_commitment
from core.errors import Erased

ERASED_TEXT = "[erased]"
_COMMITMENT = re.compile(r"^[0-9a-f]{64}$")


class TextPurpose(StrEnum):
    """What a kept text is (the first use of a text in a case names it; the same text is kept once)."""

    REASON = "reason"
    CONDITION = "condition"
    SEAL_NUMBER = "seal-number"
    FORM_REF = "form-ref"
    REFERRAL = "referral"
    DESCRIPTION = "description"
    FILE_NAME = "file-name"
    JUSTIFICATION = "justification"  # late_justification of a sample or treatment past its window
    LEGAL_BASIS = "legal-basis"  # a consent override's legal basis
    REFERENCE = "reference"  # an override's order reference, a lab report or destruction authority reference
    FINDING = "finding"  # an integrity incident's finding
    BREAK_GLASS = "break-glass"  # the written reason for emergency access to a case


class CaseText(SQLModel, table=True):
    """One free text of a case, sealed under the case key; `commitment` is what rows and the ledger hold."""

    __tablename__ = "case_text"
    __table_args__ = (UniqueConstraint("case_id", "commitment", name="uq_case_text_commitment"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True,
                                                 nullable=False))
    purpose: TextPurpose = Field(sa_type=String(16))
    commitment: str = Field(sa_type=String(64))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


def is_commitment(value: object) -> bool:
    return isinstance(value, str) and bool(_COMMITMENT.match(value))


def _row(session: Session, case_id: str, commitment: str) -> CaseText | None:
    return session.execute(select(CaseText).where(CaseText.case_id == case_id, CaseText.commitment == commitment)
                           ).scalars().first()


def keep_text(session: Session, *, case_id: str, purpose: TextPurpose, text: str | None,
              keyring: KeyringLike = None, now: datetime | None = None) -> str | None:
    """Seal `text` for the case (once per distinct text) and return its commitment; None stays None. After the
    case's erasure no text can be kept (no key): ERASED_TEXT is recorded instead, so custody can go on."""
    if text is None:
        return None
    if erased_at(session, case_id) is not None:
        return ERASED_TEXT
    commitment = commit_text(session, case_id, text, keyring=keyring)
    if _row(session, case_id, commitment) is not None:
        return commitment
    try:
        with session.begin_nested():  # two writers keeping the same text at once: one row wins
            row = CaseText(case_id=case_id, purpose=purpose, commitment=commitment, ciphertext=b"",
                           created_at=now or utcnow())
            session.add(row)
            session.flush()  # the row id is in the AAD, so seal once it is known
            assert row.id is not None
            row.ciphertext = seal_text(session, case_id=case_id, table="case_text", column="ciphertext",
                                       row_id=row.id, plaintext=text, keyring=keyring, now=now)
            session.add(row)
            session.flush()
    except IntegrityError:
        if _row(session, case_id, commitment) is None:
            raise
    return commitment


def show_text(session: Session, case_id: str, value: str | None, *, keyring: KeyringLike = None) -> str | None:
    """The text behind a stored value: a commitment of the case → its decrypted text (ERASED_TEXT after
    erasure); anything else is a clear value written before 0023 and is returned as it is."""
    if value is None or not is_commitment(value):
        return value
    row = _row(session, case_id, value)
    if row is None:
        return value
    try:
        return open_text(session, case_id=case_id, table="case_text", column="ciphertext", row_id=row.id or 0,
                         token=row.ciphertext, keyring=keyring)
    except Erased:
        return ERASED_TEXT


def check_text(session: Session, case_id: str, text: str | None, commitment: object, *,
               keyring: KeyringLike = None) -> bool | None:
    """Does the shown text match the commitment a ledger entry holds? None when it cannot be told (erased,
    or not a commitment: an entry written before 0023 holds the clear text, compared as it is)."""
    if text is None or text == ERASED_TEXT:
        return None
    if not is_commitment(commitment):
        return text == commitment if isinstance(commitment, str) else None
    if erased_at(session, case_id) is not None:
        return None
    return verify_commitment(session, case_id, text, str(commitment), keyring=keyring)


def text_rows(session: Session, case_id: str) -> list[CaseText]:
    """Every kept text of a case (for the re-encryption and erasure checks)."""
    return list(session.execute(select(CaseText).where(CaseText.case_id == case_id)
                                .order_by(CaseText.id)).scalars())


def keep_value(session: Session, *, case_id: str, purpose: TextPurpose, value: str | None,
               keyring: KeyringLike = None, now: datetime | None = None) -> str | None:
    """keep_text, idempotent: a value that already is a kept commitment of the case is returned as it is (so a
    clear value from before 0023 passing through a new write is kept too)."""
    if value is None or (is_commitment(value) and _row(session, case_id, value) is not None):
        return value
    return keep_text(session, case_id=case_id, purpose=purpose, text=value, keyring=keyring, now=now)
