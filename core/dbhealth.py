"""When the database cannot answer or cannot write: a reason a person can act on, and a write probe.

`describe_failure` turns a driver error (SQLite or PostgreSQL) into one short reason ("the database disk is
full", "the database server is not reachable" …) without ever repeating the driver's message, which can hold
the statement and its parameters (survivor data). The API answers such failures 503 with that reason
(api/problems.py), and /health's database part commits a one-row write (`probe_write`) so a database that can be
read but not written is reported, not called ready. A read request's deferred SQLite transaction whose write was
refused because its snapshot went stale (core.db "SQLite: readers and writers") is "busy" too: try again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Field, Session, SQLModel, insert

from core.clock import utcnow

# (substring of the driver's message, lower case) -> the reason shown; first match wins.
_REASONS: tuple[tuple[str, str], ...] = (
    ("database or disk is full", "the database disk is full: free space on the database's disk"),
    ("no space left on device", "the database disk is full: free space on the database's disk"),
    ("could not extend file", "the database disk is full: free space on the database's disk"),
    ("readonly database", "the database is read-only: check the database file's permissions and mount"),
    ("read-only transaction", "the database is read-only (a standby or a read-only server): check the "
                              "database server"),
    ("changed before it could write", "the database is busy (what this request read was changed by another "
                                      "writer before it could write): try again in a moment"),
    ("database is locked", "the database is busy (locked by another writer): try again in a moment"),
    ("disk i/o error", "the database cannot write to its disk (I/O error): check the disk"),
    ("unable to open database", "the database file cannot be opened: check the data directory"),
    ("connection refused", "the database server is not reachable (connection refused): check that it runs"),
    ("could not connect", "the database server is not reachable: check that it runs"),
    ("server closed the connection", "the connection to the database server was lost: try again"),
    ("terminating connection", "the database server is shutting down or restarting: try again shortly"),
    ("the database system is starting up", "the database server is starting up: try again shortly"),
    ("the database system is shutting down", "the database server is shutting down: try again shortly"),
    ("too many connections", "the database server has no free connections: try again shortly"),
    ("timeout", "the database did not answer in time: try again shortly"),
)
GENERIC = "the database cannot serve this request right now: try again shortly, or check the database"


def describe_failure(exc: BaseException) -> str:
    """One actionable reason for a database failure; never the driver's own text."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "the connection to the database server was lost: try again"
    return GENERIC


def is_unavailable(exc: BaseException) -> bool:
    """True when a driver error means the database cannot serve now (down, full, read-only, locked) rather than
    a bug in the statement: connection and operational errors, and any error with a known outage reason."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and describe_failure(exc) != GENERIC


class HealthProbe(SQLModel, table=True):
    """One row, rewritten by each /health probe: proof that a write commits."""

    __tablename__ = "health_probe"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    checked_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


def probe_write(engine: Engine, now: datetime | None = None) -> None:
    """Commit a one-row write (raises the driver's error when the database cannot write)."""
    now = now or utcnow()
    with Session(engine) as session:
        changed = session.execute(update(HealthProbe).where(HealthProbe.id == 1).values(checked_at=now)).rowcount
        if not changed:
            session.execute(insert(HealthProbe).values(id=1, checked_at=now))
        session.commit()
