"""integrity_incident: integrity incidents of items; an open one quarantines its item (evidence.incidents).

Backfill: every integrity incident recorded before this table (a custody_event of kind 'integrity-incident')
was never resolved — nothing could resolve one — so each becomes an OPEN incident and its item is quarantined
until an auditor or coordinator looks at it and records a finding (`coc evidence incidents` lists them). Their
source is 'fixity' when the scheduled fixity flow recorded them, else 'download'. No alert rows are written
here: an alert carries a ledger entry, which only the application appends.

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integrity_incident",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=True),
        sa.Column("ledger_seq", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("finding", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("resolution_ledger_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["evidence_item.id"],
                                name=op.f("fk_integrity_incident_item_id_evidence_item")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_incident")),
    )
    with op.batch_alter_table("integrity_incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_integrity_incident_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_integrity_incident_case_id"), ["case_id"], unique=False)
    op.execute(
        "INSERT INTO integrity_incident (item_id, case_id, opened_at, opened_by, reason, source, ledger_seq) "
        "SELECT e.item_id, i.case_id, e.at, e.actor_id, COALESCE(e.reason, 'integrity incident'), "
        "CASE WHEN e.actor_id = 'system:fixity' THEN 'fixity' ELSE 'download' END, e.ledger_seq "
        "FROM custody_event e JOIN evidence_item i ON i.id = e.item_id "
        "WHERE e.kind = 'integrity-incident' ORDER BY e.id")


def downgrade() -> None:
    with op.batch_alter_table("integrity_incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integrity_incident_case_id"))
        batch_op.drop_index(batch_op.f("ix_integrity_incident_item_id"))
    op.drop_table("integrity_incident")
