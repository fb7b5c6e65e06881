"""Migration 0004 (agencies) on a database that already holds staff accounts, on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg


def test_backfill_puts_officers_in_a_migrated_police_agency_and_everyone_else_in_the_centre(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0003")
        engine = make_engine(url)
        try:
            with engine.begin() as c:
                for role, uid in (("law_enforcement", "U00000000000000P1"), ("law_enforcement", "U00000000000000P2"),
                                  ("examiner", "U0000000000000E01"), ("lab", "U00000000000000B1"),
                                  ("coordinator", "U00000000000000C1")):
                    c.execute(sa.text("INSERT INTO staff_user (role, id, username, subject, active, created_at) "
                                      "VALUES (:r, :i, :u, :i, true, '2026-11-01 10:00:00+00:00')"),
                              {"r": role, "i": uid, "u": f"user-{uid[-2:]}"})
            migrate.upgrade(url)
            with engine.connect() as c:
                agencies = {row.id: (row.name, row.kind) for row in c.execute(sa.text("SELECT * FROM agency"))}
                members = dict(c.execute(sa.text("SELECT id, agency_id FROM staff_user")).all())
            assert agencies == {"Y0000000000000000": ("Centre", "centre"),
                                "Y0000000000000001": ("Law enforcement (migrated)", "police")}
            assert members == {"U00000000000000P1": "Y0000000000000001", "U00000000000000P2": "Y0000000000000001",
                               "U0000000000000E01": "Y0000000000000000", "U00000000000000B1": "Y0000000000000000",
                               "U00000000000000C1": "Y0000000000000000"}
            # Every account now needs an existing agency.
            with engine.connect() as c:
                for bad in (None, "Y00000000000000ZZ"):
                    try:
                        with c.begin():
                            c.execute(sa.text("INSERT INTO staff_user (role, id, username, subject, active, "
                                              "created_at, agency_id) VALUES ('examiner', 'U0000000000000E09', "
                                              "'late', 'late', true, '2026-11-02 10:00:00+00:00', :a)"), {"a": bad})
                    except sa.exc.IntegrityError:
                        continue
                    raise AssertionError(f"an account with agency {bad!r} was accepted")
            from alembic import command

            command.downgrade(migrate.alembic_config(url), "0003")  # and back down
            with engine.connect() as c:
                assert "agency_id" not in {col["name"] for col in sa.inspect(c).get_columns("staff_user")}
        finally:
            engine.dispose()
            if url.startswith("postgresql"):
                pg_templates.drop(url)


def test_a_database_without_officers_gets_only_the_centre(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT id, name, kind FROM agency")).all() == [
                ("Y0000000000000000", "Centre", "centre")]
    finally:
        engine.dispose()
