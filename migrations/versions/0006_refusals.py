"""access_log records refused attempts too: outcome (read | refused), object_id and reason.

Existing rows are reads: the new NOT NULL column's server default 'read' fills them as it is added (no UPDATE,
which the append-only triggers of 0002 would refuse). Adding columns leaves those triggers in place: SQLite's
batch mode adds plain columns with ALTER TABLE (no table copy), and PostgreSQL keeps triggers across
ADD COLUMN; tests/integration/test_refusals_migration.py checks both, and that UPDATE/DELETE are still refused.

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # recreate="never": a table copy on SQLite would drop the append-only triggers with the old table.
    with op.batch_alter_table("access_log", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=8), nullable=False,
                                      server_default=sa.text("'read'")))
        batch_op.add_column(sa.Column("object_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=300), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_log_outcome"), ["outcome"], unique=False)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Dropping a column makes SQLite copy the table, which drops its triggers: put 0002's back after.
        op.execute("DROP TRIGGER IF EXISTS access_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS access_log_no_delete")
    with op.batch_alter_table("access_log") as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_log_outcome"))
        batch_op.drop_column("reason")
        batch_op.drop_column("object_id")
        batch_op.drop_column("outcome")
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER access_log_no_{action.lower()} BEFORE {action} ON access_log "
                       f"BEGIN SELECT RAISE(ABORT, 'access_log is append-only: {action} refused'); END")
