"""Ledger is append-only: triggers refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL).

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from alembic import op
from core.append_only import allow_changes, refuse_changes

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("ledger_entry", "ledger_node", "pathway_step", "consent_decision", "consent_override", "access_log",
               "custody_event", "exam_record", "care_record", "advocacy_record", "deadline_alert")


def upgrade() -> None:
    refuse_changes(APPEND_ONLY)


def downgrade() -> None:
    allow_changes(APPEND_ONLY)
