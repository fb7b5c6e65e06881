"""Migration 0017 (notice_request, notice_delivery, destruction_proposal) up and down on SQLite and PostgreSQL;
the three tables are append-only (UPDATE and DELETE refused by triggers)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

TABLES = {"notice_request", "notice_delivery", "destruction_proposal"}


def test_notice_and_destruction_tables_up_append_only_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0018")
        engine = make_engine(url)
        try:
            assert not TABLES & set(sa.inspect(engine).get_table_names())
            migrate.upgrade(url, "0017")
            assert set(sa.inspect(engine).get_table_names()) >= TABLES
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO notice_request (case_id, channel_kind, contact_enc, source, made_by, "
                                  "made_at) VALUES ('C1', 'email', :b, 'staff', 'U1', :t)"),
                          {"b": b"ciphertext", "t": "2026-11-01 10:00:00+00:00"})
                c.execute(sa.text("INSERT INTO destruction_proposal (item_id, case_id, proposed_by, proposed_at, "
                                  "reason, authority_ref) VALUES ('E1', 'C1', 'U1', :t, 'r', 'A-1')"),
                          {"t": "2026-11-01 10:00:00+00:00"})
            for statement in ("UPDATE notice_request SET channel_kind = 'none'", "DELETE FROM notice_request",
                              "UPDATE destruction_proposal SET proposed_by = 'U2'"):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                    c.execute(sa.text(statement))
            command.downgrade(migrate.alembic_config(url), "0018")
            assert not TABLES & set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
