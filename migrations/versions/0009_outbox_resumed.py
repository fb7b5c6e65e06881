"""outbox.resumed: the waits (run id and checkpoint key) a wake has resumed, kept until the run moves on.

A wake row used to count as delivered as soon as Prefect accepted the resume; a run that then died left the
case stuck. The row now stays undelivered, naming what it resumed, until that run is seen past the wait (or
found dead and replaced by a fresh run): core.outbox._deliver_case. Existing rows need no backfill (NULL: no
resume recorded, the behaviour of a new row).

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("resumed", sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("resumed")
