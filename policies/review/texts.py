"""The texts of a review's decisions and action items, sealed under the CASE key and bound to their row
(core.crypto.seal_text: AES-256-GCM, associated data "<table>:text_ciphertext:<row id>"), like exam narratives
and advocacy notes. The ledger never holds them (its entries say `has_text` only), so a lawful erasure, which
destroys the case key, makes them unreadable while every ledger proof still verifies: they then read as
core.crypto.ERASED_TEXT.

Rows written before revision 0025 hold a Fernet token under the centre key: `open_text` still reads it (legacy
format), `coc admin reencrypt` (policies.reencrypt) re-seals it under the case key, and an approved erasure
re-seals it first so that destroying the key shreds it too.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core import crypto
from core.errors import Erased
from policies.review.models import ReviewAction, ReviewDecision

COLUMN = "text_ciphertext"
DECISION_TABLE = ReviewDecision.__tablename__
ACTION_TABLE = ReviewAction.__tablename__


def seal_review_text(session: Session, *, case_id: str, table: str, row_id: int, text: str | None,
                     keyring: crypto.KeyringLike = None, now: datetime | None = None) -> bytes | None:
    """`text` sealed for one decision or action row of a review of `case_id` (None stays None)."""
    if text is None:
        return None
    return crypto.seal_text(session, case_id=case_id, table=table, column=COLUMN, row_id=row_id, plaintext=text,
                            keyring=keyring, now=now)


def open_review_text(session: Session, *, case_id: str, table: str, row_id: int | None, token: bytes | None,
                     keyring: crypto.KeyringLike = None) -> str | None:
    """The row's text (None when it has none); ERASED_TEXT once the case's key was destroyed."""
    if token is None or row_id is None:
        return None
    try:
        return crypto.open_text(session, case_id=case_id, table=table, column=COLUMN, row_id=row_id, token=token,
                                keyring=keyring)
    except Erased:
        return crypto.ERASED_TEXT


def decision_text(session: Session, case_id: str, row: ReviewDecision, keyring: crypto.KeyringLike = None
                  ) -> str | None:
    return open_review_text(session, case_id=case_id, table=DECISION_TABLE, row_id=row.id,
                            token=row.text_ciphertext, keyring=keyring)


def action_text(session: Session, case_id: str, row: ReviewAction, keyring: crypto.KeyringLike = None
                ) -> str | None:
    return open_review_text(session, case_id=case_id, table=ACTION_TABLE, row_id=row.id,
                            token=row.text_ciphertext, keyring=keyring)
