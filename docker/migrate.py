"""One-shot `migrate` service: migrate as the owner role, then (re)grant the app role its row privileges.

The app role may SELECT/INSERT/UPDATE/DELETE rows, except on append-only tables (the ledger and every
table with an `<table>_append_only` trigger, found in the catalogue so new ones are covered without
editing this file), where it may only SELECT and INSERT; it may only read alembic_version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import sqlalchemy as sa

from core import migrate
from core.db import make_engine

ALWAYS_APPEND_ONLY = ("ledger_entry",)
APPEND_ONLY_TABLES_SQL = """
    SELECT DISTINCT c.relname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgname LIKE '%append_only'
"""


def apply_grants(engine: sa.Engine, app_role: str) -> list[str]:
    """Grant `app_role` row access on every table, minus changes to append-only tables; return those tables."""
    q = engine.dialect.identifier_preparer.quote
    app = q(app_role)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {app}")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}")
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}")
        conn.exec_driver_sql(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {app}")
        tables = sorted({*ALWAYS_APPEND_ONLY, *conn.execute(sa.text(APPEND_ONLY_TABLES_SQL)).scalars()})
        for table in tables:
            conn.exec_driver_sql(f"REVOKE UPDATE, DELETE, TRUNCATE ON {q(table)} FROM {app}")
    return tables


def bootstrap_admin(url: str, data_dir: Path) -> bool:
    """Create the first coordinator 'admin' (password in <data_dir>/admin-password) unless one exists."""
    from api.auth.issuer import ensure_bootstrap_admin
    from core.db import transaction

    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            return ensure_bootstrap_admin(session, data_dir) is not None
    finally:
        engine.dispose()


def main() -> int:
    """Migrate COC_MIGRATE_DATABASE_URL (the owner role) to head, apply the app role's grants, bootstrap admin."""
    url = os.environ.get("COC_MIGRATE_DATABASE_URL")
    if not url:
        print("error: COC_MIGRATE_DATABASE_URL (the owner role's URL) is not set", file=sys.stderr)
        return 2
    app_role = os.environ.get("COC_DB_APP_ROLE", "coc_app")
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        tables = apply_grants(engine, app_role)
    finally:
        engine.dispose()
    print(f"migrated to {migrate.head_revision()}; {app_role} may not change: {', '.join(tables)}")
    # The API's data volume is mounted here too: the operator reads the first password from it
    # (docker compose exec api cat /var/lib/coc/admin-password), logs in, and creates the real accounts.
    data_dir = Path(os.environ.get("COC_DATA_DIR", "/var/lib/coc"))
    if bootstrap_admin(url, data_dir):
        print(f"created the first user 'admin'; its password is in {data_dir / 'admin-password'} (api volume)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
