"""Migration 0005 (integrity_incident): incidents recorded before it become open incidents, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from core import migrate
from core.db import make_engine
from evidence.incidents import open_incident_ids
from tests.integration.test_migration_0003 import _empty_pg


def test_incidents_recorded_before_0005_quarantine_their_items(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0003")
        engine = make_engine(url)
        try:
            now = "2026-11-01 10:00:00+00:00"
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO staff_user (role, id, username, subject, active, created_at) VALUES "
                                  "('examiner', 'U0000000000000E01', 'exam', 'U0000000000000E01', true, :t)"),
                          {"t": now})
                c.execute(sa.text("INSERT INTO case_record (jurisdiction, reporting, age_band, id, opened_at, "
                                  "opened_by) VALUES ('default', 'unrestricted', 'adult', 'C0000000000000001', :t, "
                                  "'U0000000000000E01')"), {"t": now})
                for item in ("E0000000000000001", "E0000000000000002", "E0000000000000003"):
                    c.execute(sa.text("INSERT INTO evidence_item (kind, description, quantity, toxicology, id, "
                                      "case_id, collected_at, collected_by, retention_until, restricted) VALUES "
                                      "('kit', 'kit', 1, false, :i, 'C0000000000000001', :t, 'U0000000000000E01', "
                                      ":t, false)"), {"i": item, "t": now})
                    c.execute(sa.text("INSERT INTO item_custody (item_id, custodian, status, lab_submitted, "
                                      "analysed, released, version, updated_at) VALUES (:i, 'U0000000000000E01', "
                                      "'held', false, false, false, 1, :t)"), {"i": item, "t": now})
                for seq, (item, kind, actor, reason) in enumerate((
                        ("E0000000000000001", "collected", "U0000000000000E01", None),
                        ("E0000000000000001", "integrity-incident", "system:integrity", "sha256-mismatch"),
                        ("E0000000000000002", "integrity-incident", "system:fixity", "object-missing"),
                        ("E0000000000000003", "sealed", "U0000000000000E01", None)), start=1):
                    c.execute(sa.text("INSERT INTO custody_event (item_id, kind, at, actor_id, reason, ledger_seq, "
                                      "ledger_hash) VALUES (:i, :k, :t, :a, :r, :s, :h)"),
                              {"i": item, "k": kind, "t": now, "a": actor, "r": reason, "s": seq, "h": f"{seq:064x}"})
            migrate.upgrade(url)
            with engine.connect() as c:
                rows = c.execute(sa.text("SELECT item_id, source, reason, ledger_seq, opened_by, resolved_at "
                                         "FROM integrity_incident ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [
                ("E0000000000000001", "download", "sha256-mismatch", 2, "system:integrity", None),
                ("E0000000000000002", "fixity", "object-missing", 3, "system:fixity", None)]
            with Session(engine) as s:
                assert open_incident_ids(s, "E0000000000000001") and open_incident_ids(s, "E0000000000000002")
                assert open_incident_ids(s, "E0000000000000003") == []
            from alembic import command

            engine.dispose()
            command.downgrade(migrate.alembic_config(url), "0003")  # and back: the table goes, the rest stays
            with engine.connect() as c:
                assert not sa.inspect(c).has_table("integrity_incident")
                assert c.execute(sa.text("SELECT count(*) FROM custody_event")).scalar_one() == 4
        finally:
            engine.dispose()
            if url.startswith("postgresql"):
                pg_templates.drop(url)
