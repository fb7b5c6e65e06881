"""Migration 0022 (status page guard columns on kit_lookup) up and down on SQLite and PostgreSQL: existing cards
are backfilled as unlocked, unrevoked, with no failures."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import command

from core import migrate
from core.db import make_engine
from tests.integration.test_migration_0003 import _empty_pg

GUARD_COLUMNS = {"failed_attempts", "locked_at", "revoked_at"}


def _filler(column: dict) -> object:
    kind = str(column["type"]).upper()
    if "INT" in kind:
        return 0
    if "BOOL" in kind:
        return False
    if "BLOB" in kind or "BYTEA" in kind or "BINARY" in kind:
        return b"x"
    if "DATE" in kind or "TIME" in kind:
        return "2026-11-01 10:00:00+00:00"
    return "x"


def _insert_card(engine) -> None:
    """A card enrolled before 0022, on an evidence item row (its own parents are not needed here: foreign keys
    are off for these inserts)."""
    item_cols = [c for c in sa.inspect(engine).get_columns("evidence_item")
                 if not c["nullable"] and c["default"] is None and c["name"] != "id"]
    item_values = {c["name"]: _filler(c) for c in item_cols}
    names = ", ".join(["id", *item_values])
    params = ", ".join(["'E1111111111111111'", *(":" + n for n in item_values)])
    item_insert = "INSERT INTO evidence_item (" + names + ") VALUES (" + params + ")"  # noqa: S608 - schema names
    values = {"s": b"s" * 16, "h": b"h" * 32, "t": "2026-11-01 10:00:00+00:00"}
    insert = ("INSERT INTO kit_lookup (code, item_id, salt, password_hash, enrolled_at, enrolled_by) "
              "VALUES ('K1111111111111111', 'E1111111111111111', :s, :h, :t, 'U1')")
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(engine.url.database) as raw:  # foreign keys are off on a plain connection
            raw.execute(item_insert, item_values)
            raw.execute(insert, values)
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(item_insert), item_values)
        conn.execute(sa.text(insert), values)


def test_kit_lookup_guard_columns_up_and_down(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0019")
        engine = make_engine(url)
        try:
            assert not GUARD_COLUMNS & {c["name"] for c in sa.inspect(engine).get_columns("kit_lookup")}
            _insert_card(engine)
            migrate.upgrade(url, "0022")
            assert {c["name"] for c in sa.inspect(engine).get_columns("kit_lookup")} >= GUARD_COLUMNS
            with engine.connect() as c:
                row = c.execute(sa.text("SELECT failed_attempts, locked_at, revoked_at FROM kit_lookup")).one()
            assert tuple(row) == (0, None, None)
            command.downgrade(migrate.alembic_config(url), "0019")
            assert not GUARD_COLUMNS & {c["name"] for c in sa.inspect(engine).get_columns("kit_lookup")}
        finally:
            engine.dispose()
