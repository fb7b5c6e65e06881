"""evidence_item.late_justification, care_record.late_justification: why a sample or treatment came past its window.

A sample collected, or a treatment given, after the jurisdiction pack's clinical window is recorded only with
a clinical justification written by staff (policies.windows). Existing rows have none (NULL: recorded in
time, or before the rule existed). care_record is append-only (0002's triggers): the column is added in place
(ALTER TABLE ADD COLUMN, never a table copy), so its triggers stay.

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("evidence_item", "care_record")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.add_column(sa.Column("late_justification", sa.String(length=500), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        # SQLite drops a column in place since 3.35; never a table copy (the append-only triggers must stay)
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.drop_column("late_justification")
