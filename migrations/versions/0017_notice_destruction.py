"""notice_request, notice_delivery, destruction_proposal: the survivor's notice before destruction and the
two-person destruction (policies.notice, evidence.notice_tasks, evidence.destruction). All three are
append-only (triggers as 0002). New tables: nothing to backfill (no case has a notice request yet; items
destroyed before this revision keep their single-person `destroyed` entry).

Revision ID: 0017
Revises: 0018 (briefed: 0013; relinked after merging main)
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from core.append_only import allow_changes, refuse_changes

revision: str = "0017"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("notice_request", "notice_delivery", "destruction_proposal")


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notice_request",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("made_by", sa.String(length=64), nullable=False),
        sa.Column("made_at", _tz(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_request_case_id", "notice_request", ["case_id"])
    op.create_table(
        "notice_delivery",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("announced_until", _tz(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_delivery_case_id", "notice_delivery", ["case_id"])
    op.create_index("ix_notice_delivery_item_id", "notice_delivery", ["item_id"])
    op.create_table(
        "destruction_proposal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", _tz(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("authority_ref", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_destruction_proposal_item_id", "destruction_proposal", ["item_id"])
    refuse_changes(APPEND_ONLY)


def downgrade() -> None:
    allow_changes(APPEND_ONLY)  # (on SQLite the tables' drops take their triggers)
    op.drop_index("ix_destruction_proposal_item_id", table_name="destruction_proposal")
    op.drop_table("destruction_proposal")
    op.drop_index("ix_notice_delivery_item_id", table_name="notice_delivery")
    op.drop_index("ix_notice_delivery_case_id", table_name="notice_delivery")
    op.drop_table("notice_delivery")
    op.drop_index("ix_notice_request_case_id", table_name="notice_request")
    op.drop_table("notice_request")
