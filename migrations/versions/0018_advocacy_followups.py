"""advocacy_entry (referral outcomes, contacts: append-only) and advocacy_follow_up (the pack's follow-ups).

New tables: nothing to backfill (existing cases get their follow-ups scheduled by the pathway's follow-up stage,
or `coc advocacy followups CASE --schedule`). advocacy_entry refuses UPDATE/DELETE the way 0002 does.

Revision ID: 0018
Revises: 0016
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from core.append_only import allow_changes, refuse_changes

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "advocacy_entry"


def upgrade() -> None:
    op.create_table(
        "advocacy_entry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("contact_kind", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_advocacy_entry_case_id", "advocacy_entry", ["case_id"])
    op.create_table(
        "advocacy_follow_up",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("checks", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "name", name="uq_advocacy_follow_up_case_name"),  # scheduled once
    )
    op.create_index("ix_advocacy_follow_up_case_id", "advocacy_follow_up", ["case_id"])
    refuse_changes([APPEND_ONLY])


def downgrade() -> None:
    allow_changes([APPEND_ONLY])
    op.drop_index("ix_advocacy_follow_up_case_id", table_name="advocacy_follow_up")
    op.drop_table("advocacy_follow_up")
    op.drop_index("ix_advocacy_entry_case_id", table_name="advocacy_entry")
    op.drop_table("advocacy_entry")
