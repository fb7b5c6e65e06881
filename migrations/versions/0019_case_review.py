"""Multidisciplinary case review (policies.review): case_review, case_review_participant, case_review_decision
(append-only, like the tables of 0002) and case_review_action (status open → done is current state).

New tables: nothing to backfill.

Revision ID: 0019
Revises: 0015
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from core.append_only import allow_changes, refuse_changes

revision: str = "0019"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("case_review", "case_review_participant", "case_review_decision")


def upgrade() -> None:
    op.create_table(
        "case_review",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_review_case_id", "case_review", ["case_id"])
    op.create_table(
        "case_review_participant",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.String(length=32), sa.ForeignKey("case_review.id"), nullable=False),
        sa.Column("user_id", sa.String(length=32), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("agency_id", sa.String(length=32), sa.ForeignKey("agency.id"), nullable=False),
        sa.Column("seat", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "user_id", name="uq_case_review_participant"),
    )
    op.create_index("ix_case_review_participant_review_id", "case_review_participant", ["review_id"])
    op.create_index("ix_case_review_participant_user_id", "case_review_participant", ["user_id"])
    op.create_table(
        "case_review_decision",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.String(length=32), sa.ForeignKey("case_review.id"), nullable=False),
        sa.Column("text_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_review_decision_review_id", "case_review_decision", ["review_id"])
    op.create_table(
        "case_review_action",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.String(length=32), sa.ForeignKey("case_review.id"), nullable=False),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("case_review_decision.id"), nullable=True),
        sa.Column("owner_agency_id", sa.String(length=32), sa.ForeignKey("agency.id"), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("text_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_review_action_review_id", "case_review_action", ["review_id"])
    op.create_index("ix_case_review_action_owner_agency_id", "case_review_action", ["owner_agency_id"])
    refuse_changes(APPEND_ONLY)


def downgrade() -> None:
    allow_changes(APPEND_ONLY)
    op.drop_table("case_review_action")
    op.drop_table("case_review_decision")
    op.drop_table("case_review_participant")
    op.drop_table("case_review")
