"""Free text out of the permanent ledger: case_text holds each free text staff type (transfer reasons,
conditions, seal numbers, form references, referral names, item descriptions, file names) sealed under the case
key; the domain rows and new ledger entries hold only its commitment (core.crypto.texts).

No backfill here (a migration cannot read keys): rows written before 0023 keep their clear text and stay readable
(`show_text` returns a value that is not a commitment as it is); `coc admin reencrypt` moves them into case_text
where the table allows an update. Ledger entries already written keep the text they hold: they can never change.

Revision ID: 0023
Revises: 0017
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_text",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_case_text_case_id_case_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_text")),
        sa.UniqueConstraint("case_id", "commitment", name="uq_case_text_commitment"),
    )
    with op.batch_alter_table("case_text") as batch_op:
        batch_op.create_index(batch_op.f("ix_case_text_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_text") as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_text_case_id"))
    op.drop_table("case_text")
