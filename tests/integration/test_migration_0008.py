"""Migration 0008 (ledger_verification, centre-wide alerts) on a database holding alerts, on both databases.

SQLite rebuilds deadline_alert to make case_id nullable, which drops 0002's append-only triggers: the
migration must create them again (and make ledger_verification append-only too).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

NOW = "2026-11-01 10:00:00+00:00"
ALERT = ("INSERT INTO deadline_alert (case_id, item_id, clock, message, due_at, raised_at, id, dedupe_key, "
         "ledger_seq, ledger_hash) VALUES (:c, NULL, :k, 'm', :t, :t, :i, :i, 1, 'h')")
RUN = ("INSERT INTO ledger_verification (started_at, finished_at, ok, entries_checked, first_bad_seq, reason, "
       "trigger, actor_id) VALUES (:t, :t, false, 3, 4, 'bad', 'scheduled', 'system:ledger-check')")


def _refused(engine, sql: str) -> bool:
    try:
        with engine.begin() as c:
            c.execute(sa.text(sql))
    except DatabaseError as exc:
        return "append-only" in str(exc)
    return False


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0008_keeps_alerts_allows_centre_wide_ones_and_stays_append_only(kind, tmp_path, request):
    pg = request.getfixturevalue("pg_templates") if kind == "postgresql" else None
    url = f"sqlite:///{tmp_path / 'old.db'}" if pg is None else _empty_pg(pg)
    migrate.upgrade(url, "0003")
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            c.execute(sa.text(ALERT), {"c": "C0000000000000001", "k": "lab-submission", "t": NOW, "i": "A1"})
        migrate.upgrade(url, "0008")
        with engine.begin() as c:
            c.execute(sa.text(ALERT), {"c": None, "k": "ledger-not-intact", "t": NOW, "i": "A2"})
            c.execute(sa.text(RUN), {"t": NOW})
            rows = dict(c.execute(sa.text("SELECT id, case_id FROM deadline_alert ORDER BY id")).all())
        assert rows == {"A1": "C0000000000000001", "A2": None}
        for sql in ("UPDATE deadline_alert SET message = 'x'", "DELETE FROM deadline_alert",
                    "UPDATE ledger_verification SET ok = true", "DELETE FROM ledger_verification"):
            assert _refused(engine, sql), sql

        migrate.command.downgrade(migrate.alembic_config(url), "0008-1")
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT id FROM deadline_alert")).scalars().all() == ["A1"]
        assert _refused(engine, "DELETE FROM deadline_alert")
        with pytest.raises(DatabaseError), engine.begin() as c:  # NOT NULL again
            c.execute(sa.text(ALERT), {"c": None, "k": "ledger-not-intact", "t": NOW, "i": "A3"})
    finally:
        engine.dispose()
        if pg is not None:
            pg.drop(url)
