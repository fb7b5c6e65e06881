"""Migration 0024 (erasure_request.withdrawn_by / withdrawn_at) up and down on SQLite and PostgreSQL keeps the
erasure requests written before it (NULL: never withdrawn)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg


def test_erasure_withdrawal_columns_up_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0023")
        engine = make_engine(url)
        try:
            now = datetime(2026, 1, 2, tzinfo=UTC)
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO case_record (id, jurisdiction, age_band, reporting, opened_at, "
                                  "opened_by) VALUES ('C1111111111111111', 'us-wa', 'adult', 'unrestricted', :t, "
                                  "'U1')"), {"t": now})
                c.execute(sa.text("INSERT INTO erasure_request (case_id, basis, status, proposed_by, proposed_at) "
                                  "VALUES ('C1111111111111111', 'court-order', 'proposed', 'U1', :t)"), {"t": now})
            migrate.upgrade(url, "0024")
            columns = {c["name"] for c in sa.inspect(engine).get_columns("erasure_request")}
            assert {"withdrawn_by", "withdrawn_at"} <= columns
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT status, withdrawn_by, withdrawn_at FROM erasure_request")
                                 ).one() == ("proposed", None, None)
            command.downgrade(migrate.alembic_config(url), "0023")
            assert "withdrawn_by" not in {c["name"] for c in sa.inspect(engine).get_columns("erasure_request")}
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT status FROM erasure_request")).scalar_one() == "proposed"
        finally:
            engine.dispose()
