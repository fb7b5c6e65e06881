"""Migration 0015 (case_key, erasure_request; exam/advocacy triggers let only the ciphertext change) up and down
on SQLite and PostgreSQL, over a database holding a legacy (Fernet) exam row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy.exc import DBAPIError

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

T = "2026-11-01 10:00:00+00:00"


def _update(engine, statement: str) -> None:
    with engine.begin() as c:
        c.execute(sa.text(statement), {"v": b"rewritten"})


def test_case_key_tables_and_rewritable_ciphertext_up_and_down(tmp_path, pg_templates):
    legacy = Fernet(Fernet.generate_key()).encrypt(b"legacy narrative")
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0014")
        engine = make_engine(url)
        try:
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO case_record (id, jurisdiction, age_band, reporting, opened_at, "
                                  "opened_by) VALUES ('C1', 'default', 'adult', 'restricted', :t, 'U1')"), {"t": T})
                c.execute(sa.text("INSERT INTO exam_record (case_id, started_at, narrative_ciphertext, recorded_at, "
                                  "recorded_by, ledger_seq) VALUES ('C1', :t, :v, :t, 'U1', 1)"), {"t": T, "v": legacy})
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "UPDATE exam_record SET narrative_ciphertext = :v")
            migrate.upgrade(url, "0015")
            tables = set(sa.inspect(engine).get_table_names())
            assert {"case_key", "erasure_request"} <= tables
            _update(engine, "UPDATE exam_record SET narrative_ciphertext = :v")  # reencrypt may rewrite it
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "UPDATE exam_record SET recorded_by = 'U2'")
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "DELETE FROM exam_record")
            with engine.connect() as c:
                assert bytes(c.execute(sa.text("SELECT narrative_ciphertext FROM exam_record")).scalar_one()) == \
                    b"rewritten"
            command.downgrade(migrate.alembic_config(url), "0014")
            assert not {"case_key", "erasure_request"} & set(sa.inspect(engine).get_table_names())
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "UPDATE exam_record SET narrative_ciphertext = :v")
        finally:
            engine.dispose()
