"""Engine and session factory. Nothing connects at import; engines are made on first use.

SQLite: readers and writers. SQLite has no row locks: one writer at a time, and a transaction that first reads and
then writes must upgrade its read snapshot to the write lock, which fails at once (SQLITE_BUSY, or for good
SQLITE_BUSY_SNAPSHOT) when another connection wrote meanwhile. So a transaction that may write begins IMMEDIATE
(the write lock up front; it waits for the writer ahead up to the busy timeout). A transaction of work that only
reads (`transaction(..., deferred=True)`, `reading(engine)`: the API's GET and HEAD requests) begins DEFERRED: in
WAL mode it reads a snapshot and never waits for a writer. If such a transaction writes after all, its first write
takes the lock in place (`_start_writing_in_place`): serializable when nobody committed since its snapshot,
refused as "database is locked" (503, nothing recorded) when somebody did. Writes that do not depend on what was
read (the access-log row of a read) follow `start_writing(session, why)`: the snapshot ends, and they begin
IMMEDIATE. PostgreSQL: none of this applies (row locks, and its transactions are unchanged).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
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


def sqlite_busy_timeout_s(url: str) -> float:
    """How long a SQLite writer waits for the write lock before "database is locked": the URL's `?timeout=`
    (seconds, as pysqlite reads it), else 30 s."""
    value = make_url(url).query.get("timeout")
    return float(value if isinstance(value, str) else 30)


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE (DEFERRED for the
    transactions of `reading(engine)`: see "SQLite: readers and writers" at the top of this module)."""
    url = normalize_url(url)
    # Database errors end up in logs: never let them carry the statement's parameters (free text typed by
    # staff, ciphertexts, ids) — the error class and SQL are enough to diagnose.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        busy_s = sqlite_busy_timeout_s(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_s}, **kwargs)
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
            cur.execute(f"PRAGMA busy_timeout={int(busy_s * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            deferred = conn.get_execution_options().get(SQLITE_BEGIN, IMMEDIATE) == DEFERRED
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")
            conn.info[_TXN] = _UNREAD if deferred else _WRITING

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_write_intent(conn, _cursor, statement, _params, context, _many):  # pragma: no cover
            state = conn.info.get(_TXN)
            if state is None or state == _WRITING:
                return
            if _is_write(statement, context):
                _start_writing_in_place(conn, state, statement)
            elif state == _UNREAD and not statement.lstrip().upper().startswith("BEGIN"):
                conn.info[_TXN] = _READ

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


# -- SQLite: readers and writers ------------------------------------------------------------------------------------
# Execution option naming how a SQLite transaction begins; PostgreSQL ignores it.
SQLITE_BEGIN = "coc_sqlite_begin"
IMMEDIATE, DEFERRED = "IMMEDIATE", "DEFERRED"
# The state of a SQLite connection's transaction, in Connection.info (set at BEGIN, so a pooled connection's
# leftover state never outlives its transaction): writing (holds the write lock), a deferred one that has not read
# yet or has read its snapshot, or refused (its snapshot went stale under a write: every later write is refused).
_TXN = "coc_sqlite_txn"
_WRITING, _UNREAD, _READ, _REFUSED = "writing", "deferred", "deferred-read", "refused"
_WRITE_SQL = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|SAVEPOINT)\b", re.IGNORECASE)
STALE_READ = "database is locked: what this transaction read changed before it could write"
_readers: dict[Engine, Engine] = {}  # engine -> its reading twin
_bases: dict[Engine, Engine] = {}  # reading twin -> engine: a transaction opened on a reader's bind still writes
# How many deferred transactions of this process took the write lock in place (a write no start_writing
# announced); tests read it to prove the API's read routes announce every write they make.
in_place_writes = 0


def _is_write(statement: str, context: Any) -> bool:
    """True for a statement that writes, or that says a write follows: DML/DDL, a SAVEPOINT (savepoints wrap
    writes here) and SELECT ... FOR UPDATE (SQLite drops the clause, but the caller reads in order to write)."""
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    if _WRITE_SQL.match(statement):
        return True
    compiled_statement = getattr(getattr(context, "compiled", None), "statement", None)
    return getattr(compiled_statement, "_for_update_arg", None) is not None


def _data_version(raw: Any) -> int:
    """SQLite's PRAGMA data_version: changes when ANOTHER connection commits (fixed while a snapshot is held)."""
    return int(raw.execute("PRAGMA data_version").fetchone()[0])


def _start_writing_in_place(conn: Connection, state: str, statement: str) -> None:
    """The first write of a DEFERRED transaction: take the write lock without SQLite's own read-to-write upgrade.

    SQLite's upgrade does not wait: it fails at once with SQLITE_BUSY while another connection writes, and with
    SQLITE_BUSY_SNAPSHOT for good once one has committed since this transaction's snapshot. Instead: end the
    snapshot (nothing was written in it), BEGIN IMMEDIATE (waiting for the writer ahead up to the busy timeout, as
    every writer does), then compare PRAGMA data_version. Unchanged: nobody committed since the snapshot, so what
    this transaction read is still the database's state and the write goes on as if the transaction had held the
    lock all along (serializable). Changed: what was read may be stale, so the write is refused with a "database
    is locked" OperationalError (core.dbhealth: 503 "busy, nothing was recorded, try again"), and so is every later
    write of the transaction. A transaction that had read nothing yet just takes the lock.
    """
    raw = conn.connection.dbapi_connection
    assert raw is not None
    try:
        if state == _REFUSED:
            raise sqlite3.OperationalError(STALE_READ)
        before = _data_version(raw) if state == _READ else None
        raw.execute("COMMIT")  # a deferred transaction that has written nothing: this only ends its snapshot
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            raw.execute("BEGIN")  # the session still believes it is in a transaction: keep it in one, unwritten
            conn.info[_TXN] = _REFUSED if state == _READ else _UNREAD  # what it read is unchecked: no later write
            raise
        conn.info[_TXN] = _WRITING
        global in_place_writes
        in_place_writes += 1
        if before is not None and _data_version(raw) != before:
            raw.execute("ROLLBACK")
            raw.execute("BEGIN")
            conn.info[_TXN] = _REFUSED
            raise sqlite3.OperationalError(STALE_READ)
    except sqlite3.OperationalError as exc:
        raise OperationalError(statement, None, exc, hide_parameters=True) from exc


def reading(engine: Engine) -> Engine:
    """`engine` with DEFERRED SQLite transactions (the same pool); any other database: `engine` itself.

    A deferred transaction reads a WAL snapshot and never waits for a writer; its first write takes the write
    lock then (`_start_writing_in_place`), and is refused as "database is locked" if the snapshot went stale.
    Use it for work that only reads; work that writes begins IMMEDIATE (the default), so it never needs an upgrade.
    """
    if not is_sqlite(engine):
        return engine
    with _lock:
        if engine in _bases:
            return engine
        reader = _readers.get(engine)
        if reader is None:
            reader = _readers[engine] = engine.execution_options(**{SQLITE_BEGIN: DEFERRED})
            _bases[reader] = engine
        return reader


def writing(engine: Engine) -> Engine:
    """The engine whose transactions begin IMMEDIATE on SQLite: `engine`, or the engine a reading twin came from
    (a record written "in a transaction of its own" from a read request's bind, e.g. an integrity incident)."""
    with _lock:
        return _bases.get(engine, engine)


def is_reading(session: Session) -> bool:
    """True when `session` is a deferred SQLite session whose current transaction has not taken the write lock."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or not is_sqlite(bind):
        return False
    if bind.get_execution_options().get(SQLITE_BEGIN) != DEFERRED:
        return False
    if not session.in_transaction():
        return True
    return session.connection().info.get(_TXN) != _WRITING


def start_writing(session: Session, why: str, *, reload: bool = False) -> None:
    """Before writes that do not depend on what the session read (the record of a read it has made): on a
    deferred SQLite session, commit the read-only transaction (its snapshot ends; nothing was written) and begin
    the next one IMMEDIATE, so the writes wait for the write lock like any writer and are never refused as stale.
    They commit when the session's owner commits, as before; if they cannot, the owner's request fails. Anywhere
    else (PostgreSQL, an IMMEDIATE session, one already writing) nothing changes: the writes join the transaction.
    `why` states why the writes may follow a fresh snapshot (required, like commit_early's). `reload=True` for
    writes that decide from what they read next (a checkpoint decision): the objects loaded so far are expired, so
    everything read from here on is the state the write lock protects.
    What was read before the call is as a READ COMMITTED reader (PostgreSQL's default) sees it: committed, and
    possibly older than the write."""
    if not why.strip():
        raise ValueError("start_writing needs the reason the writes may follow a fresh snapshot")
    if not is_reading(session):
        return
    session.commit()
    if reload:
        session.expire_all()
    session.connection(execution_options={SQLITE_BEGIN: IMMEDIATE})


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
        _readers.clear()
        _bases.clear()


@contextmanager
def transaction(bind: Engine | Callable[[], Session] | None = None, *, deferred: bool = False) -> Iterator[Session]:
    """The one way to open a transaction: a session that commits when the block ends and rolls back on any
    exception. `bind`: an engine, a session factory, or None for the configured engine.

    `deferred=True` (work that only reads, e.g. the API's GET requests): on SQLite the transactions begin
    DEFERRED (`reading`): they read a snapshot without queueing behind writers. A write in them takes the write
    lock in place and is refused ("database is locked", 503) if another connection committed since the snapshot;
    writes that do not depend on the reads (an access-log row) go after `start_writing(session, why)`. PostgreSQL:
    no difference.

    Services never commit (they flush; the caller's transaction commits them with their ledger entries). The
    API's request session (api.deps.get_session) and each flow step use this; code that must commit before its
    caller's transaction ends says so with `commit_early`, and a record that must outlive a failing caller (a
    refusal, an integrity incident) is written in a transaction of its own opened here.
    """
    if bind is None or isinstance(bind, Engine):
        engine = bind or get_engine()
        session = Session(reading(engine) if deferred else writing(engine), expire_on_commit=False)
    else:
        session = bind()
        if isinstance(session.bind, Engine):
            session.bind = reading(session.bind) if deferred else writing(session.bind)
    with session:
        try:
            yield session
            _commit(session)
        except BaseException:
            session.rollback()
            raise


# Set on a driver error raised by COMMIT on a server database (PostgreSQL) that lost its connection: the server
# may have committed before the answer was lost, so "nothing was recorded" would be a lie (api.problems says the
# outcome is unknown instead). On SQLite a failed COMMIT commits nothing.
OUTCOME_UNKNOWN = "coc_outcome_unknown"


def _commit(session: Session) -> None:
    try:
        session.commit()
    except (OperationalError, InterfaceError, DBAPIError) as exc:
        bind = session.get_bind()
        if bind.dialect.name != "sqlite" and (isinstance(exc, OperationalError | InterfaceError)
                                              or exc.connection_invalidated):
            setattr(exc, OUTCOME_UNKNOWN, True)
        raise


def commit_early(session: Session, why: str) -> None:
    """Commit what `session` holds now, before its transaction's owner would. Only where that is the point:
    a refusal whose record must stand although the request fails, or a transaction that must not stay open
    while a file streams. `why` is that reason, for the reader (required, so every early commit states it)."""
    if not why.strip():
        raise ValueError("commit_early needs the reason the commit cannot wait")
    _commit(session)
