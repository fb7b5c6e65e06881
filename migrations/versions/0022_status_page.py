"""kit_lookup guard state for the survivor's status page: failed attempts in a row, locked_at, revoked_at.

Backfill: existing cards start with no failures, unlocked and not revoked (the server default and NULLs).

Revision ID: 0022
Revises: 0019
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kit_lookup") as batch:
        batch.add_column(sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kit_lookup") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("locked_at")
        batch.drop_column("failed_attempts")
