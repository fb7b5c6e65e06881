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

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_APPEND_ONLY = ("ledger_verification",)


def _sqlite_triggers(table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END")


def _pg_triggers(table: str) -> None:
    op.execute(f"""CREATE OR REPLACE FUNCTION coc_refuse_{table}_change() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION '{table} is append-only: % refused', TG_OP; END; $$ LANGUAGE plpgsql""")
    op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION coc_refuse_{table}_change()")
    op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION coc_refuse_{table}_change()")


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
    for table in NEW_APPEND_ONLY:
        (_sqlite_triggers if sqlite else _pg_triggers)(table)
    if sqlite:  # the rebuilt deadline_alert lost 0002's triggers
        _sqlite_triggers("deadline_alert")


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
        _sqlite_triggers("deadline_alert")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_verification_append_only ON ledger_verification")
        op.execute("DROP TRIGGER IF EXISTS ledger_verification_no_truncate ON ledger_verification")
        op.execute("DROP FUNCTION IF EXISTS coc_refuse_ledger_verification_change()")
    op.drop_table("ledger_verification")
