"""evidence_item.restricted → photo_consent_withdrawn (what the flag means: the photograph's consent was withdrawn).

The old name was easy to read as the case's restricted report (core.cases.Reporting.RESTRICTED). A plain column
rename, values kept. On SQLite it is `ALTER TABLE ... RENAME COLUMN` (SQLite ≥ 3.25; batch with recreate="never"),
so evidence_item is not rebuilt: its foreign keys, the tables referring to it and every trigger stay as they are
(evidence_item has no append-only triggers of its own; 0002's are on custody_event and the other history tables).

Revision ID: 0010
Revises: 0009
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(old: str, new: str) -> None:
    with op.batch_alter_table("evidence_item", recreate="never") as batch_op:
        batch_op.alter_column(old, new_column_name=new, existing_type=sa.Boolean(), existing_nullable=False)


def upgrade() -> None:
    _rename("restricted", "photo_consent_withdrawn")


def downgrade() -> None:
    _rename("photo_consent_withdrawn", "restricted")
