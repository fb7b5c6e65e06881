"""Append-only tables, for the migrations (migrations/versions): triggers that refuse UPDATE and DELETE
(SQLite), and UPDATE, DELETE and TRUNCATE (PostgreSQL: one refusing function per table). One definition, used
by every revision that makes a table append-only (revision 0015 keeps its own: its triggers let one column
change).

Here, not in migrations/, because Alembic also loads the revisions outside env.py (core.migrate.is_migrated reads
the script directory to find the head), where only installed packages are importable.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op


def _sqlite_triggers(table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END")


def _pg_triggers(table: str) -> None:
    op.execute(f"""CREATE OR REPLACE FUNCTION coc_refuse_{table}_change() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION '{table} is append-only: % refused', TG_OP; END; $$ LANGUAGE plpgsql""")
    op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION coc_refuse_{table}_change()")
    op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION coc_refuse_{table}_change()")


def refuse_changes(tables: Iterable[str]) -> None:
    """Make each of `tables` append-only on the migration's database."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in tables:
        (_sqlite_triggers if sqlite else _pg_triggers)(table)


def allow_changes(tables: Iterable[str]) -> None:
    """Drop what refuse_changes created (a downgrade); dropping a table drops its SQLite triggers with it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in tables:
        if sqlite:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS coc_refuse_{table}_change()")
