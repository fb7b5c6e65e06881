"""Migration 0010 (evidence_item.restricted → photo_consent_withdrawn) on a database holding items, both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

NOW = "2026-11-01 10:00:00+00:00"


def _seed(c) -> None:
    c.execute(sa.text("INSERT INTO staff_user (role, id, username, subject, active, created_at, agency_id) "
                      "SELECT 'examiner', 'U0000000000000E01', 'exam', 'U0000000000000E01', true, :t, id "
                      "FROM agency LIMIT 1"), {"t": NOW})
    c.execute(sa.text("INSERT INTO case_record (jurisdiction, reporting, age_band, id, opened_at, opened_by) VALUES "
                      "('default', 'unrestricted', 'adult', 'C0000000000000001', :t, 'U0000000000000E01')"),
              {"t": NOW})
    for item, kind, flag in (("E0000000000000001", "photograph", True), ("E0000000000000002", "kit", False)):
        c.execute(sa.text("INSERT INTO evidence_item (kind, description, quantity, toxicology, id, case_id, "
                          "collected_at, collected_by, retention_until, restricted) VALUES (:k, 'x', 1, false, :i, "
                          "'C0000000000000001', :t, 'U0000000000000E01', :t, :f)"),
                  {"i": item, "k": kind, "t": NOW, "f": flag})
        c.execute(sa.text("INSERT INTO custody_event (item_id, kind, at, actor_id, ledger_seq, ledger_hash) VALUES "
                          "(:i, 'collected', :t, 'U0000000000000E01', 1, :h)"), {"i": item, "t": NOW, "h": "0" * 64})


def test_the_flag_is_renamed_with_its_values_and_the_append_only_triggers_survive(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0009")
        engine = make_engine(url)
        try:
            with engine.begin() as c:
                _seed(c)
            migrate.upgrade(url, "0010")
            with engine.connect() as c:
                got = dict(c.execute(sa.text("SELECT id, photo_consent_withdrawn FROM evidence_item ORDER BY id"))
                           .all())
                columns = {col["name"] for col in sa.inspect(c).get_columns("evidence_item")}
            assert {k: bool(v) for k, v in got.items()} == {"E0000000000000001": True, "E0000000000000002": False}
            assert "restricted" not in columns
            # evidence_item was not rebuilt: the history tables that refer to it keep refusing changes (0002)
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text("UPDATE custody_event SET actor_id = 'x'"))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text("DELETE FROM custody_event"))
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT count(*) FROM custody_event")).scalar() == 2
            command.downgrade(migrate.alembic_config(url), "0009")
            with engine.connect() as c:
                back = dict(c.execute(sa.text("SELECT id, restricted FROM evidence_item ORDER BY id")).all())
            assert {k: bool(v) for k, v in back.items()} == {"E0000000000000001": True, "E0000000000000002": False}
        finally:
            engine.dispose()
            if url.startswith("postgresql"):
                pg_templates.drop(url)
