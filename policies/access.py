"""The access log: who read which sensitive record of which case, when, and whether by break-glass — and who was
refused an attempt on evidence, consent-protected data or a survivor's file (outcome "refused", with the reason;
policies.refusals decides what counts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, String, select, text
from sqlmodel import Field, Session, SQLModel

from core.actors import Actor
from core.clock import utcnow
from core.ledger import EventKind, append
from policies.permissions import Permission
from policies.refusals import ACTION_MAX, REASON_MAX, Outcome


class AccessLog(SQLModel, table=True):
    """One read of survivor-sensitive data, or one refused attempt (append-only: triggers refuse UPDATE/DELETE)."""

    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    user_id: str = Field(sa_column=Column(String(64), index=True, nullable=False))
    role: str = Field(max_length=24)
    case_id: str | None = Field(default=None, sa_column=Column(String(32), index=True, nullable=True))
    resource: str = Field(max_length=200)  # route template, e.g. "GET /cases/{case_id}/identity": no ids
    permission: str = Field(max_length=64)
    break_glass: bool = False
    # 0006: read | refused; the opaque id the path named (case, item or transfer); why a refusal was refused.
    outcome: str = Field(default=Outcome.READ.value, sa_column=Column(
        String(8), nullable=False, index=True, server_default=text("'read'")))
    object_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(String(REASON_MAX), nullable=True))


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
    outcome: str = Outcome.READ.value
    object_id: str | None = None
    reason: str | None = None


def log_access(session: Session, *, actor: Actor, case_id: str | None, resource: str,
               permission: Permission | str, break_glass: bool, now: datetime | None = None,
               object_id: str | None = None) -> AccessLog:
    """Record one read of sensitive data in the caller's transaction."""
    row = AccessLog(at=now or utcnow(), user_id=actor.id, role=actor.role, case_id=case_id,
                    resource=resource[:ACTION_MAX], permission=str(permission), break_glass=break_glass,
                    outcome=Outcome.READ.value, object_id=object_id)
    session.add(row)
    session.flush()
    return row


def log_refusal(session: Session, *, actor: Actor, case_id: str | None, object_id: str | None, resource: str,
                permission: Permission | str, reason: str, item_id: str | None = None,
                now: datetime | None = None) -> AccessLog:
    """Record one refused attempt (outcome "refused") in the caller's transaction; with `item_id` (a custody
    action on an existing item) also append ACCESS_REFUSED to the item's ledger record, so the refusal is part
    of its chain of custody and its export. No personal data: opaque ids, the staff id or token subject, the
    route template, the permission and the error's class and message (which by rule name no survivor)."""
    now = now or utcnow()
    row = AccessLog(at=now, user_id=actor.id[:64], role=actor.role[:24], case_id=case_id,
                    resource=resource[:ACTION_MAX], permission=str(permission)[:64], break_glass=False,
                    outcome=Outcome.REFUSED.value, object_id=object_id, reason=reason[:REASON_MAX])
    session.add(row)
    session.flush()
    if item_id is not None:
        append(session, kind=EventKind.ACCESS_REFUSED, actor=actor, case_id=case_id, item_id=item_id, at=now,
               data={"permission": str(permission), "action": resource[:ACTION_MAX], "reason": reason[:REASON_MAX],
                     "access_log_id": row.id})
    return row


def list_access(session: Session, *, case_id: str | None = None, user_id: str | None = None,
                outcome: Outcome | str | None = Outcome.READ, object_id: str | None = None,
                limit: int = 100, offset: int = 0) -> list[AccessLog]:
    """Access-log rows, newest first, optionally for one case, user, object or outcome (None: every outcome;
    the default is the reads, as before refusals were recorded)."""
    stmt = select(AccessLog).order_by(AccessLog.id.desc()).limit(limit).offset(offset)
    if case_id:
        stmt = stmt.where(AccessLog.case_id == case_id)
    if user_id:
        stmt = stmt.where(AccessLog.user_id == user_id)
    if outcome:
        stmt = stmt.where(AccessLog.outcome == str(Outcome(outcome)))
    if object_id:
        stmt = stmt.where(AccessLog.object_id == object_id)
    return list(session.execute(stmt).scalars())
