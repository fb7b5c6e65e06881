"""erasure_request.withdrawn_by / withdrawn_at: an open erasure proposal can be withdrawn (status "withdrawn"),
by its proposer or another person allowed to propose one (evidence.erasure.withdraw_erasure); a withdrawn
proposal can no longer be approved.

Backfill: none needed (no request was ever withdrawn; both columns NULL). ADD COLUMN (batch with
recreate="never" on SQLite): erasure_request is not rebuilt.

Revision ID: 0024
Revises: 0023
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("erasure_request", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("withdrawn_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("erasure_request", recreate="never") as batch_op:
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("withdrawn_by")
