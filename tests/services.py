"""Real services for the test session: PostgreSQL (pgserver, system, or COC_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import sqlalchemy as sa

from core import migrate
from core.db import normalize_url


def start_postgres(workdir: Path):
    """Return (admin_url, stop) for a PostgreSQL server: env URL, embedded pgserver, or system binaries."""
    url = os.environ.get("COC_TEST_DATABASE_URL")
    if url:
        return normalize_url(url), lambda: None
    try:
        import pgserver

        srv = pgserver.get_server(str(workdir / "pg"), cleanup_mode="delete")
        return normalize_url(srv.get_uri()), srv.cleanup  # stops the server and deletes its data directory
    except Exception as exc:  # noqa: BLE001 - fall back to the system's PostgreSQL below
        pg_error = exc
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        raise RuntimeError(f"no PostgreSQL for the tests: pgserver failed ({pg_error}) and no system "
                           "PostgreSQL found; set COC_TEST_DATABASE_URL") from pg_error
    bindir = bins[-1].parent
    data, sock = workdir / "sys-pg", workdir / "sys-pg-sock"
    sock.mkdir(parents=True, exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run as the postgres system user
        shutil.chown(workdir, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-o",
                    f"-k {sock} -c listen_addresses=''", "start"], check=True, capture_output=True)

    def stop() -> None:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)

    return f"postgresql+psycopg://postgres@/postgres?host={sock}", stop


def with_database(url: str, dbname: str) -> str:
    """`url` with its database replaced by `dbname`."""
    return sa.engine.make_url(url).set(database=dbname).render_as_string(hide_password=False)


class PgTemplates:
    """A migrated template database, cloned per test (CREATE DATABASE ... TEMPLATE is fast)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self.template = f"coc_tmpl_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{self.template}"')
        migrate.upgrade(with_database(admin_url, self.template))

    def fresh(self) -> str:
        """A new migrated database; returns its URL."""
        name = f"coc_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return with_database(self.admin_url, name)

    def drop(self, url: str) -> None:
        """Drop a database made by fresh()."""
        name = sa.engine.make_url(url).database
        with self.admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
