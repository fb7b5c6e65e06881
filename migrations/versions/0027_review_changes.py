"""Case reviews can be rescheduled, cancelled and their participants changed (policies.review.changes).

- case_review gains `cancelled_at`, `cancelled_by`, `cancel_reason` (a closed enum: policies.review.models.
  CancelReason); its append-only triggers now let ONLY `scheduled_for` and those three columns change (DELETE is
  still refused), the way 0025 lets one column of case_review_decision change.
- case_review_participant gains `removed_at`, `removed_by`: a removed participant's row stays (who was invited is
  history), marked removed; re-inviting them clears the mark and takes their agency and seat as they are then.
  Only `agency_id`, `seat`, `removed_at`, `removed_by` may change; DELETE is still refused.
- Every change is on the ledger (REVIEW_RESCHEDULED, REVIEW_PARTICIPANT_ADDED / _REMOVED, REVIEW_CANCELLED).

Backfill: the new columns are NULL for existing rows (not cancelled, nobody removed): nothing to compute.

Revision ID: 0027
Revises: 0025
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.append_only import allow_changes, refuse_changes

revision: str = "0027"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVIEW, PARTICIPANT = "case_review", "case_review_participant"
# table → (columns that never change, columns that may change)
MUTABLE = {
    REVIEW: (("id", "case_id", "scheduled_by", "created_at", "ledger_seq"),
             ("scheduled_for", "cancelled_at", "cancelled_by", "cancel_reason")),
    PARTICIPANT: (("id", "review_id", "user_id"), ("agency_id", "seat", "removed_at", "removed_by")),
}


def _let_change(table: str, fixed: tuple[str, ...], free: tuple[str, ...]) -> None:
    """UPDATE of `free` columns only; DELETE (and TRUNCATE) still refused."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OF {', '.join(fixed)} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END")
        return
    minus = " - ".join(f"'{c}'" for c in free)
    op.execute(f"""CREATE OR REPLACE FUNCTION coc_refuse_{table}_change() RETURNS trigger AS $$
               BEGIN IF TG_OP = 'UPDATE' THEN IF (to_jsonb(NEW) - {minus}) = (to_jsonb(OLD) - {minus})
               THEN RETURN NEW; END IF; END IF;
               RAISE EXCEPTION '{table} is append-only: % refused', TG_OP; END; $$ LANGUAGE plpgsql""")


def upgrade() -> None:
    # recreate="never": a table copy on SQLite would drop the triggers (and case_review has rows pointing at it).
    with op.batch_alter_table(REVIEW, recreate="never") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.String(length=24), nullable=True))
    with op.batch_alter_table(PARTICIPANT, recreate="never") as batch:
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("removed_by", sa.String(length=64), nullable=True))
    for table, (fixed, free) in MUTABLE.items():
        _let_change(table, fixed, free)


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of case_review fails on the foreign keys
    # of the rows pointing at it. The triggers naming the columns go first; 0019's come back after.
    allow_changes(tuple(MUTABLE))
    for table, column in ((PARTICIPANT, "removed_by"), (PARTICIPANT, "removed_at"), (REVIEW, "cancel_reason"),
                          (REVIEW, "cancelled_by"), (REVIEW, "cancelled_at")):
        op.drop_column(table, column)
    refuse_changes(tuple(MUTABLE))
