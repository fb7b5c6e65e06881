"""Migration 0018 on SQLite and PostgreSQL: advocacy_entry (append-only: UPDATE and DELETE refused) and
advocacy_follow_up (its outcome is set once, so it may be updated) come and go with the revision."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg


def test_migration_0018_up_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'm.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0018")
        engine = make_engine(url)
        try:
            tables = set(sa.inspect(engine).get_table_names())
            assert {"advocacy_entry", "advocacy_follow_up"} <= tables
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO case_record (id, jurisdiction, age_band, reporting, opened_at, "
                                  "opened_by) VALUES ('C1', 'default', 'adult', 'undecided', :t, 'U1')"),
                          {"t": "2026-11-01 10:00:00+00:00"})
                c.execute(sa.text("INSERT INTO advocacy_entry (case_id, kind, outcome, occurred_at, recorded_at, "
                                  "recorded_by, ledger_seq) VALUES ('C1', 'contact', 'reached', :t, :t, 'U1', 1)"),
                          {"t": "2026-11-01 10:00:00+00:00"})
                c.execute(sa.text("INSERT INTO advocacy_follow_up (case_id, name, checks, due_at, scheduled_at) "
                                  "VALUES ('C1', '1-week', 'hiv-retest', :t, :t)"), {"t": "2026-11-01 10:00:00+00:00"})
                c.execute(sa.text("UPDATE advocacy_follow_up SET outcome = 'done'"))
            for statement in ("UPDATE advocacy_entry SET outcome = 'no-answer'", "DELETE FROM advocacy_entry"):
                with engine.connect() as c:
                    try:
                        c.execute(sa.text(statement))
                        c.commit()
                        raise AssertionError(f"{statement} was not refused")
                    except sa.exc.DBAPIError as exc:
                        assert "append-only" in str(exc)
            command.downgrade(migrate.alembic_config(url), "-1")
            tables = set(sa.inspect(engine).get_table_names())
            assert not {"advocacy_entry", "advocacy_follow_up"} & tables
        finally:
            engine.dispose()
