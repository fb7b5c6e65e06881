"""Migration 0013 (refresh_token) up and down on SQLite and PostgreSQL; the table matches policies.sessions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg


def test_refresh_token_table_up_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0010")
        engine = make_engine(url)
        try:
            assert "refresh_token" not in sa.inspect(engine).get_table_names()
            migrate.upgrade(url, "0013")
            insp = sa.inspect(engine)
            cols = {c["name"] for c in insp.get_columns("refresh_token")}
            assert cols == {"id", "family_id", "user_id", "token_hash", "issued_at", "expires_at", "used_at",
                            "revoked_at"}
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO refresh_token (id, family_id, user_id, token_hash, issued_at, "
                                  "expires_at) VALUES ('a', 'f', 'U1', :h, :t, :t)"),
                          {"h": "0" * 64, "t": "2026-11-01 10:00:00+00:00"})
            command.downgrade(migrate.alembic_config(url), "0010")
            assert "refresh_token" not in sa.inspect(engine).get_table_names()
        finally:
            engine.dispose()
