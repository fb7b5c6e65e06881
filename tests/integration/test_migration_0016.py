"""Migration 0016 (evidence_item.offence_class) on a database holding items, both databases: existing items are
left unclassified (NULL: the pack's cap, never a shorter retention) and the history tables keep their triggers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

NOW = "2026-11-01 10:00:00+00:00"


def _seed(c) -> None:
    """Items as 0010 left them (the 0009 seed's `restricted` column is renamed by then)."""
    c.execute(sa.text("INSERT INTO staff_user (role, id, username, subject, active, created_at, agency_id) "
                      "SELECT 'examiner', 'U0000000000000E01', 'exam', 'U0000000000000E01', true, :t, id "
                      "FROM agency LIMIT 1"), {"t": NOW})
    c.execute(sa.text("INSERT INTO case_record (jurisdiction, reporting, age_band, id, opened_at, opened_by) VALUES "
                      "('default', 'unrestricted', 'adult', 'C0000000000000001', :t, 'U0000000000000E01')"),
              {"t": NOW})
    c.execute(sa.text("INSERT INTO evidence_item (kind, description, quantity, toxicology, id, case_id, "
                      "collected_at, collected_by, retention_until, photo_consent_withdrawn) VALUES ('kit', 'x', 1, "
                      "false, 'E0000000000000001', 'C0000000000000001', :t, 'U0000000000000E01', :t, false)"),
              {"t": NOW})
    c.execute(sa.text("INSERT INTO custody_event (item_id, kind, at, actor_id, ledger_seq, ledger_hash) VALUES "
                      "('E0000000000000001', 'collected', :t, 'U0000000000000E01', 1, :h)"), {"t": NOW, "h": "0" * 64})


def test_offence_class_added_null_and_removed(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0022")
        engine = make_engine(url)
        try:
            with engine.begin() as c:
                _seed(c)
            migrate.upgrade(url, "0016")
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT offence_class FROM evidence_item")).all() == [(None,)]
            with engine.begin() as c:
                c.execute(sa.text("UPDATE evidence_item SET offence_class = 'rape'"))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text("UPDATE custody_event SET actor_id = 'x'"))
            command.downgrade(migrate.alembic_config(url), "0022")
            with engine.connect() as c:
                columns = {col["name"] for col in sa.inspect(c).get_columns("evidence_item")}
                assert c.execute(sa.text("SELECT count(*) FROM evidence_item")).scalar() == 1
            assert "offence_class" not in columns
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text("DELETE FROM custody_event"))
        finally:
            engine.dispose()
            if url.startswith("postgresql"):
                pg_templates.drop(url)
