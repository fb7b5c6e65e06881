"""evidence_item.offence_class: the closed offence class (policies.jurisdictions.OffenceClass) an item's
statute-of-limitations retention is read for (policies.retention); nullable, NULL = not classified.

Backfill: existing items are left NULL (not classified), which the rule reads as "the pack's cap" — the longest
reported period — so no existing item's retention becomes shorter. An ADD COLUMN (batch with recreate="never" on
SQLite): evidence_item is not rebuilt, its foreign keys and the triggers of other tables stay as they are.

Revision ID: 0016
Revises: 0022
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_item", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("offence_class", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (no rebuild of evidence_item, whose id other tables refer to)
    with op.batch_alter_table("evidence_item", recreate="never") as batch_op:
        batch_op.drop_column("offence_class")
