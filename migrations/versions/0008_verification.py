"""Ledger verification runs (append-only) and centre-wide alerts (deadline_alert.case_id nullable).

ledger_verification keeps every run of the whole-ledger verification (evidence.verification) so /health can
report the last one. A ledger-not-intact alert belongs to no case, so deadline_alert.case_id becomes nullable.
On SQLite the batch operation rebuilds deadline_alert, which drops its append-only triggers (0002): they are
created again here. Existing rows need no backfill (every existing alert has a case; no run was recorded).

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from core.append_only import refuse_changes

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_APPEND_ONLY = ("ledger_verification",)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "ledger_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("entries_checked", sa.Integer(), nullable=False),
        sa.Column("first_bad_seq", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_verification")),
    )
    with op.batch_alter_table("ledger_verification") as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_verification_finished_at"), ["finished_at"], unique=False)
    with op.batch_alter_table("deadline_alert") as batch_op:
        batch_op.alter_column("case_id", existing_type=sa.String(length=32), nullable=True)
    refuse_changes(NEW_APPEND_ONLY)
    if sqlite:  # the rebuilt deadline_alert lost 0002's triggers
        refuse_changes(["deadline_alert"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Centre-wide alerts cannot exist before 0008: remove them (append-only, so around the trigger).
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS deadline_alert_no_delete")
        op.execute("DELETE FROM deadline_alert WHERE case_id IS NULL")
    else:
        op.execute("ALTER TABLE deadline_alert DISABLE TRIGGER USER")
        op.execute("DELETE FROM deadline_alert WHERE case_id IS NULL")
        op.execute("ALTER TABLE deadline_alert ENABLE TRIGGER USER")
    with op.batch_alter_table("deadline_alert") as batch_op:
        batch_op.alter_column("case_id", existing_type=sa.String(length=32), nullable=False)
    if sqlite:
        refuse_changes(["deadline_alert"])
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_verification_append_only ON ledger_verification")
        op.execute("DROP TRIGGER IF EXISTS ledger_verification_no_truncate ON ledger_verification")
        op.execute("DROP FUNCTION IF EXISTS coc_refuse_ledger_verification_change()")
    op.drop_table("ledger_verification")
