"""Engine and session factory. Nothing connects at import; engines are made on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

# A naming convention so Alembic migrations are stable on SQLite (batch mode) and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given as plain postgresql:// (or postgres://)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """True when the engine or URL points at SQLite."""
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


class _SQLiteUTCDateTime(SQLITE_DATETIME):
    """SQLite has no time zones: store UTC, and hand back aware UTC datetimes for timezone=True columns.

    Without this, SQLite returns naive datetimes while PostgreSQL returns aware ones, and comparisons,
    API responses (RFC 3339 needs an offset) and the ledger's canonical times would differ by backend.
    """

    def bind_processor(self, dialect):
        inner = super().bind_processor(dialect)

        def process(value):
            if value is not None and getattr(value, "tzinfo", None) is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return inner(value) if inner else value

        return process

    def result_processor(self, dialect, coltype):
        inner = super().result_processor(dialect, coltype)
        aware = bool(self.timezone)

        def process(value):
            value = inner(value) if inner else value
            if aware and value is not None and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value

        return process


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE."""
    url = normalize_url(url)
    # Database errors end up in logs: never let them carry the statement's parameters (free text typed by
    # staff, ciphertexts, ids) — the error class and SQL are enough to diagnose.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        engine.dialect.colspecs = {**engine.dialect.colspecs, DateTime: _SQLiteUTCDateTime}

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
            # pysqlite's own transaction handling is disabled so that we can issue BEGIN IMMEDIATE:
            # SQLite has no row locks, so every writing transaction takes the write lock up front
            # instead of failing with SQLITE_BUSY when it upgrades a read lock (no chain forks).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def get_engine(url: str | None = None) -> Engine:
    """Return the shared engine for `url` (default: the configured database), creating it once."""
    if url is None:
        from core.settings import get_settings

        url = get_settings().database_url
        assert url, "database_url is filled by load_settings"
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def transaction(bind: Engine | Callable[[], Session] | None = None) -> Iterator[Session]:
    """The one way to open a transaction: a session that commits when the block ends and rolls back on any
    exception. `bind`: an engine, a session factory, or None for the configured engine.

    Services never commit (they flush; the caller's transaction commits them with their ledger entries). The
    API's request session (api.deps.get_session) and each flow step use this; code that must commit before its
    caller's transaction ends says so with `commit_early`, and a record that must outlive a failing caller (a
    refusal, an integrity incident) is written in a transaction of its own opened here.
    """
    if bind is None or isinstance(bind, Engine):
        session = Session(bind or get_engine(), expire_on_commit=False)
    else:
        session = bind()
    with session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def commit_early(session: Session, why: str) -> None:
    """Commit what `session` holds now, before its transaction's owner would. Only where that is the point:
    a refusal whose record must stand although the request fails, or a transaction that must not stay open
    while a file streams. `why` is that reason, for the reader (required, so every early commit states it)."""
    if not why.strip():
        raise ValueError("commit_early needs the reason the commit cannot wait")
    session.commit()
