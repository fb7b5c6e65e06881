"""Agencies: the `agency` table and staff_user.agency_id (every staff account belongs to one agency).

Inserts the centre's own agency (kind centre, policies.agencies.CENTRE_AGENCY_ID) and backfills existing
accounts: law-enforcement users into a police agency made here ("Law enforcement (migrated)", only when
there are such users), everyone else into the centre. Afterwards a coordinator registers the real partner
agencies and moves users into them (`coc admin user update USER --agency NAME`).

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CENTRE_ID, CENTRE_NAME = "Y0000000000000000", "Centre"
POLICE_ID, POLICE_NAME = "Y0000000000000001", "Law enforcement (migrated)"


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("name", name=op.f("uq_agency_name")),
    )
    agency = sa.table("agency", sa.column("id", sa.String), sa.column("name", sa.String),
                      sa.column("kind", sa.String), sa.column("created_at", sa.DateTime(timezone=True)))
    now = datetime.now(UTC)  # migration time, not a service: there is no clock to ask
    op.bulk_insert(agency, [{"id": CENTRE_ID, "name": CENTRE_NAME, "kind": "centre", "created_at": now}])
    conn = op.get_bind()
    has_officers = conn.execute(sa.text("SELECT COUNT(*) FROM staff_user WHERE role = 'law_enforcement'")).scalar()
    if has_officers:
        op.bulk_insert(agency, [{"id": POLICE_ID, "name": POLICE_NAME, "kind": "police", "created_at": now}])

    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.add_column(sa.Column("agency_id", sa.String(length=32), nullable=True))
    op.execute(sa.text("UPDATE staff_user SET agency_id = CASE WHEN role = 'law_enforcement' THEN :police "
                       "ELSE :centre END").bindparams(police=POLICE_ID, centre=CENTRE_ID))
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.alter_column("agency_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_foreign_key(op.f("fk_staff_user_agency_id_agency"), "agency", ["agency_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.drop_constraint(op.f("fk_staff_user_agency_id_agency"), type_="foreignkey")
        batch_op.drop_column("agency_id")
    op.drop_table("agency")
