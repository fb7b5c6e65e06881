"""Migration 0027 (review changes) down and up on SQLite and PostgreSQL over a database holding a review and its
participant: existing rows come out not cancelled and nobody removed; the time and the cancellation may change
afterwards, nothing else; the downgrade refuses every UPDATE again (0019's triggers) and keeps the rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError

from core import migrate
from core.db import make_engine
from policies.agencies import CENTRE_AGENCY_ID

T = "2026-11-01 10:00:00+00:00"


def _run(engine, statement: str) -> None:
    with engine.begin() as c:
        c.execute(sa.text(statement))


def test_0027_down_and_up_over_an_existing_review(db_url):
    engine = make_engine(db_url)
    try:
        command.downgrade(migrate.alembic_config(db_url), "0025")
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO case_record (id, jurisdiction, reporting, age_band, opened_at, opened_by) "
                              "VALUES ('C1', 'default', 'unrestricted', 'adult', :t, 'U1')"), {"t": T})
            c.execute(sa.text("INSERT INTO case_review (id, case_id, scheduled_for, scheduled_by, created_at, "
                              "ledger_seq) VALUES ('V1', 'C1', :t, 'U1', :t, 1)"), {"t": T})
            c.execute(sa.text("INSERT INTO staff_user (id, username, subject, role, agency_id, active, "
                              "created_at) VALUES ('U1', 'u1', 'sub-u1', 'examiner', :a, :y, :t)"),
                      {"a": CENTRE_AGENCY_ID, "t": T, "y": True})
            c.execute(sa.text("INSERT INTO case_review_participant (review_id, user_id, agency_id, seat) "
                              "VALUES ('V1', 'U1', :a, 'centre')"), {"a": CENTRE_AGENCY_ID})
        with pytest.raises(DBAPIError, match="append-only"):
            _run(engine, "UPDATE case_review SET scheduled_for = created_at")

        migrate.upgrade(db_url, "head")
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT cancelled_at, cancelled_by, cancel_reason FROM case_review")).one() == \
                (None, None, None)
            assert c.execute(sa.text("SELECT removed_at, removed_by FROM case_review_participant")).one() == \
                (None, None)
        _run(engine, "UPDATE case_review SET cancel_reason = 'other', cancelled_by = 'U1'")
        _run(engine, "UPDATE case_review_participant SET removed_by = 'U1'")
        with pytest.raises(DBAPIError, match="append-only"):
            _run(engine, "UPDATE case_review SET scheduled_by = 'U2'")

        command.downgrade(migrate.alembic_config(db_url), "0025")
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT id, case_id FROM case_review")).one() == ("V1", "C1")
        with pytest.raises(DBAPIError, match="append-only"):
            _run(engine, "UPDATE case_review SET scheduled_for = created_at")
        with pytest.raises(DBAPIError, match="append-only"):
            _run(engine, "DELETE FROM case_review_participant")
        migrate.upgrade(db_url, "head")
    finally:
        engine.dispose()
