"""pathway_wait.wake_at / woken_at: timed waits of the pathway (follow-up dates, notice and destruction dates).

Existing waits are waits for a decision: both columns stay NULL (nothing to backfill).

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pathway_wait") as batch:
        batch.add_column(sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("woken_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_pathway_wait_wake_at", "pathway_wait", ["wake_at"])


def downgrade() -> None:
    op.drop_index("ix_pathway_wait_wake_at", table_name="pathway_wait")
    with op.batch_alter_table("pathway_wait") as batch:
        batch.drop_column("woken_at")
        batch.drop_column("wake_at")
