"""Migration 0019 (case review tables) up and down on SQLite and PostgreSQL; decisions are append-only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

TABLES = {"case_review", "case_review_participant", "case_review_decision", "case_review_action"}


def test_case_review_tables_up_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0015")
        engine = make_engine(url)
        try:
            assert not TABLES & set(sa.inspect(engine).get_table_names())
            migrate.upgrade(url, "0019")
            insp = sa.inspect(engine)
            assert set(insp.get_table_names()) >= TABLES
            assert {c["name"] for c in insp.get_columns("case_review_action")} == {
                "id", "review_id", "decision_id", "owner_agency_id", "due_at", "status", "text_ciphertext",
                "created_by", "created_at", "done_at", "done_by", "ledger_seq"}
            t = "2026-11-01 10:00:00+00:00"
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO case_record (id, jurisdiction, reporting, age_band, opened_at, "
                                  "opened_by) VALUES ('C1', 'default', 'unrestricted', 'adult', :t, 'U1')"),
                          {"t": t})
                c.execute(sa.text("INSERT INTO case_review (id, case_id, scheduled_for, scheduled_by, created_at, "
                                  "ledger_seq) VALUES ('V1', 'C1', :t, 'U1', :t, 1)"), {"t": t})
                c.execute(sa.text("INSERT INTO case_review_decision (review_id, recorded_by, recorded_at, "
                                  "ledger_seq) VALUES ('V1', 'U1', :t, 2)"), {"t": t})
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text("UPDATE case_review_decision SET recorded_by = 'U2'"))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text("DELETE FROM case_review"))
            command.downgrade(migrate.alembic_config(url), "0015")
            assert not TABLES & set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
