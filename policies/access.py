"""The access log: who read which sensitive record of which case, when, and whether by break-glass."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, String, select
from sqlmodel import Field, Session, SQLModel

from core.actors import Actor
from core.clock import utcnow
from policies.permissions import Permission


class AccessLog(SQLModel, table=True):
    """One read of survivor-sensitive data (append-only: triggers refuse UPDATE/DELETE)."""

    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    user_id: str = Field(sa_column=Column(String(64), index=True, nullable=False))
    role: str = Field(max_length=24)
    case_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    resource: str = Field(max_length=200)  # route template, e.g. "GET /cases/{case_id}/identity": no ids
    permission: str = Field(max_length=64)
    break_glass: bool = False


class AccessLogPublic(SQLModel):
    """An access-log row as shown to the auditor."""

    id: int
    at: datetime
    user_id: str
    role: str
    case_id: str | None
    resource: str
    permission: str
    break_glass: bool


def log_access(session: Session, *, actor: Actor, case_id: str | None, resource: str,
               permission: Permission | str, break_glass: bool, now: datetime | None = None) -> AccessLog:
    """Record one read of sensitive data in the caller's transaction."""
    row = AccessLog(at=now or utcnow(), user_id=actor.id, role=actor.role, case_id=case_id,
                    resource=resource[:200], permission=str(permission), break_glass=break_glass)
    session.add(row)
    session.flush()
    return row


def list_access(session: Session, *, case_id: str | None = None, user_id: str | None = None,
                limit: int = 100, offset: int = 0) -> list[AccessLog]:
    """Access-log rows, newest first, optionally for one case or one user."""
    stmt = select(AccessLog).order_by(AccessLog.id.desc()).limit(limit).offset(offset)
    if case_id:
        stmt = stmt.where(AccessLog.case_id == case_id)
    if user_id:
        stmt = stmt.where(AccessLog.user_id == user_id)
    return list(session.execute(stmt).scalars())
