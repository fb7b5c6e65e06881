"""item_custody.released: the item was released to law enforcement (with consent) and not returned since.

Lets a check-out keep a released item released, and lets custody refuse law-enforcement custody of items that
were never released (evidence.custody).

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item_custody") as batch_op:
        batch_op.add_column(sa.Column("released", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Items whose state says released were released before this column existed.
    op.execute("UPDATE item_custody SET released = (status = 'released')")


def downgrade() -> None:
    with op.batch_alter_table("item_custody") as batch_op:
        batch_op.drop_column("released")
