"""Migration 0003 (item_custody.released) on a database that already holds custody rows, on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from core import migrate
from core.db import make_engine
from tests.services import with_database


def _empty_pg(pg_templates) -> str:
    import uuid

    name = f"coc_m_{uuid.uuid4().hex[:12]}"
    with pg_templates.admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return with_database(pg_templates.admin_url, name)


def test_backfill_marks_items_released_before_0003_including_those_stored_by_an_officer(tmp_path, pg_templates):
    """Before 0003 an officer's check-out turned a released item back into "held": the backfill must still see
    it as released (else it could never be returned), and must not mark the centre's own items."""
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0002")
        engine = make_engine(url)
        try:
            now = "2026-11-01 10:00:00+00:00"
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO staff_user (role, id, username, subject, active, created_at) VALUES "
                                  "('law_enforcement', 'U00000000000000P1', 'officer', 'U00000000000000P1', true, "
                                  ":t), ('examiner', 'U0000000000000E01', 'exam', 'U0000000000000E01', true, :t)"),
                          {"t": now})
                c.execute(sa.text("INSERT INTO case_record (jurisdiction, reporting, age_band, id, opened_at, "
                                  "opened_by) VALUES ('default', 'unrestricted', 'adult', 'C0000000000000001', :t, "
                                  "'U0000000000000E01')"), {"t": now})
                for item, custodian, status in (("E0000000000000001", "U00000000000000P1", "released"),
                                                ("E0000000000000002", "U00000000000000P1", "held"),
                                                ("E0000000000000003", "U00000000000000P1", "checked-in"),
                                                ("E0000000000000004", "U0000000000000E01", "held")):
                    c.execute(sa.text("INSERT INTO evidence_item (kind, description, quantity, toxicology, id, "
                                      "case_id, collected_at, collected_by, retention_until, restricted) VALUES "
                                      "('kit', 'kit', 1, false, :i, 'C0000000000000001', :t, 'U0000000000000E01', "
                                      ":t, false)"), {"i": item, "t": now})
                    c.execute(sa.text("INSERT INTO item_custody (item_id, custodian, status, lab_submitted, "
                                      "analysed, version, updated_at) VALUES (:i, :c, :s, false, false, 1, :t)"),
                              {"i": item, "c": custodian, "s": status, "t": now})
            migrate.upgrade(url)
            with engine.connect() as c:
                got = dict(c.execute(sa.text("SELECT item_id, released FROM item_custody ORDER BY item_id")).all())
            assert {k: bool(v) for k, v in got.items()} == {
                "E0000000000000001": True, "E0000000000000002": True, "E0000000000000003": True,
                "E0000000000000004": False}
        finally:
            engine.dispose()
            if url.startswith("postgresql"):
                pg_templates.drop(url)
