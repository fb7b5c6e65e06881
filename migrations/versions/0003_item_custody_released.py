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
    # Released before this column existed: the state says so, or (a released item an officer had checked in
    # and out came back as "held" or "checked-in" before 0003) the custodian is a law-enforcement officer —
    # evidence reached an officer only through a release.
    op.execute("UPDATE item_custody SET released = (status = 'released' OR custodian IN "
               "(SELECT id FROM staff_user WHERE role = 'law_enforcement'))")


def downgrade() -> None:
    with op.batch_alter_table("item_custody") as batch_op:
        batch_op.drop_column("released")
