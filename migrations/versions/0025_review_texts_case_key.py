"""Case-review texts under the CASE key (policies.review.texts): decisions' and action items' text_ciphertext are
now sealed under the case key, bound to their row, so a lawful erasure (which destroys the key) shreds them.

- case_review_decision stays append-only, but its trigger now lets ONLY text_ciphertext change (as 0015 did for
  exam_record / advocacy_record), so `coc admin reencrypt` (policies.reencrypt) can re-seal a value written
  under the centre key (Fernet) before this revision; case_review_action rows may change already.
- A migration cannot read keys: values written before 0025 stay readable as they are (core.crypto.open_text
  reads the legacy format), `coc admin reencrypt` re-seals them, and an approved erasure re-seals a case's
  values before destroying its key.
- One backfill needs no key: a case ERASED before 0025 still had its review texts under the centre key, i.e.
  readable by anyone holding it. Those values are overwritten here with SHREDDED, a value in the sealed format
  that no key opens (reads answer core.crypto.ERASED_TEXT, as for every other erased value). Nothing else about
  those rows changes, and the ledger (which never held the texts) is untouched.

Revision ID: 0025
Revises: 0024
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.append_only import allow_changes, refuse_changes

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECISION = "case_review_decision"
COLUMN = "text_ciphertext"
OTHERS = ("id", "review_id", "recorded_by", "recorded_at", "ledger_seq")
MAGIC = b"COC\x01"  # core.crypto.envelope.MAGIC: the sealed format (a Fernet token starts with b"gAAAAA")
# Sealed format, zero nonce, no valid tag under any key: what a shredded legacy value becomes.
SHREDDED = MAGIC + bytes(12) + b"shredded-by-0025" + bytes(16)

ERASED_REVIEWS = ("review_id IN (SELECT r.id FROM case_review r JOIN case_key k ON k.case_id = r.case_id "
                  "WHERE k.erased_at IS NOT NULL)")
SHRED = {  # a legacy (non-sealed) text of a review of an erased case → SHREDDED
    table: sa.text(f"UPDATE {table} SET text_ciphertext = :shredded WHERE text_ciphertext IS NOT NULL "  # noqa: S608
                   f"AND substr(text_ciphertext, 1, 4) <> :magic AND {ERASED_REVIEWS}")
    for table in (DECISION, "case_review_action")  # constant table names, nothing from outside
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {DECISION}_no_update")
        op.execute(f"CREATE TRIGGER {DECISION}_no_update BEFORE UPDATE OF {', '.join(OTHERS)} ON {DECISION} "
                   f"BEGIN SELECT RAISE(ABORT, '{DECISION} is append-only: UPDATE refused'); END")
    else:
        op.execute(f"""CREATE OR REPLACE FUNCTION coc_refuse_{DECISION}_change() RETURNS trigger AS $$
                   BEGIN IF TG_OP = 'UPDATE' THEN IF (to_jsonb(NEW) - '{COLUMN}') = (to_jsonb(OLD) - '{COLUMN}')
                   THEN RETURN NEW; END IF; END IF;
                   RAISE EXCEPTION '{DECISION} is append-only: % refused', TG_OP; END; $$ LANGUAGE plpgsql""")
    for statement in SHRED.values():
        op.get_bind().execute(statement, {"shredded": SHREDDED, "magic": MAGIC})


def downgrade() -> None:
    # Values sealed under the case key stay as they are (the code of 0024 reads only the centre key's format);
    # the decision table refuses every UPDATE again: the triggers of 0019, recreated.
    allow_changes((DECISION,))
    refuse_changes((DECISION,))
