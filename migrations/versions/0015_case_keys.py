"""Per-case keys and lawful erasure: case_key (wrapped data keys), erasure_request (two-person erasure), and
the append-only triggers of exam_record / advocacy_record let ONLY their ciphertext column change (`coc admin
reencrypt` rewrites legacy Fernet values row-bound under the case key; every other column stays refused).

Nothing to backfill: existing cases get their key on the first sealed write (or by `coc admin reencrypt`), and
their legacy values stay readable until then (core.crypto detects the format).

Revision ID: 0015
Revises: 0014
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (the ciphertext column that may be rewritten, every other column)
REWRITABLE = {
    "exam_record": ("narrative_ciphertext",
                    ("id", "case_id", "started_at", "ended_at", "recorded_at", "recorded_by", "ledger_seq")),
    "advocacy_record": ("notes_ciphertext",
                        ("id", "case_id", "kind", "service", "status", "referral_to", "due_at", "recorded_at",
                         "recorded_by", "ledger_seq")),
}


def _pg_function(table: str, column: str | None) -> None:
    allow = "" if column is None else (
        f"IF TG_OP = 'UPDATE' THEN IF (to_jsonb(NEW) - '{column}') = (to_jsonb(OLD) - '{column}') "
        "THEN RETURN NEW; END IF; END IF;")
    op.execute(f"""CREATE OR REPLACE FUNCTION coc_refuse_{table}_change() RETURNS trigger AS $$
               BEGIN {allow} RAISE EXCEPTION '{table} is append-only: % refused', TG_OP; END; $$ LANGUAGE plpgsql""")


def _sqlite_update_trigger(table: str, others: tuple[str, ...] | None) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    of = "" if others is None else f" OF {', '.join(others)}"
    op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE{of} ON {table} "
               f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "case_key",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_case_key_case_id_case_record")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_key")),
    )
    op.create_table(
        "erasure_request",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"],
                                name=op.f("fk_erasure_request_case_id_case_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_request")),
    )
    with op.batch_alter_table("erasure_request") as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_request_case_id"), ["case_id"], unique=False)
    for table, (column, others) in REWRITABLE.items():
        if sqlite:
            _sqlite_update_trigger(table, others)
        else:
            _pg_function(table, column)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in REWRITABLE:
        if sqlite:
            _sqlite_update_trigger(table, None)
        else:
            _pg_function(table, None)
    with op.batch_alter_table("erasure_request") as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_request_case_id"))
    op.drop_table("erasure_request")
    op.drop_table("case_key")
