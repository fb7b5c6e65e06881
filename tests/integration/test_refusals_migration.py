"""Migration 0006 (access_log outcome/object_id/reason) on a database that already holds access-log rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg


def test_existing_rows_become_reads_and_the_log_stays_append_only(tmp_path, pg_templates):
    """Rows written before 0006 read back as outcome 'read'; UPDATE and DELETE are still refused afterwards."""
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0003")
        engine = make_engine(url)
        try:
            with engine.begin() as c:
                c.execute(sa.text("INSERT INTO access_log (at, user_id, role, case_id, resource, permission, "
                                  "break_glass) VALUES (:t, 'U0000000000000E01', 'examiner', 'C0000000000000001', "
                                  "'GET /cases/{case_id}/identity', 'case:identity:read', false)"),
                          {"t": "2026-11-01 10:00:00+00:00"})
            migrate.upgrade(url, "0006")
            with engine.connect() as c:
                rows = c.execute(sa.text("SELECT outcome, object_id, reason FROM access_log")).all()
            assert [tuple(r) for r in rows] == [("read", None, None)]
            for sql in ("UPDATE access_log SET outcome = 'refused'", "DELETE FROM access_log"):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                    c.execute(sa.text(sql))
            with engine.begin() as c:  # new rows default to reads too
                c.execute(sa.text("INSERT INTO access_log (at, user_id, role, resource, permission, break_glass) "
                                  "VALUES (:t, 'U0000000000000E01', 'examiner', 'x', 'y', false)"),
                          {"t": "2026-11-01 11:00:00+00:00"})
                assert c.execute(sa.text("SELECT count(*) FROM access_log WHERE outcome = 'read'")).scalar() == 2
        finally:
            engine.dispose()
            if url.startswith("postgresql"):
                pg_templates.drop(url)
