"""Access decisions: case assignments, break-glass grants and the one authorize() every route goes through.

Security assumptions: authorization comes from OUR database (role, active flag, assignments), never from
claims in a token; anything unknown (role, permission, user, case) is denied (fail closed).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ConfigDict, field_validator
from sqlalchemy import Column, DateTime, String, select
from sqlmodel import Field, Session, SQLModel

from core import crypto
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.ledger import EventKind, append
from policies.authz.users import resolve_user
from policies.consent.hooks import wake_pathway
from policies.permissions import CASE_SCOPED, PARTY_SCOPED, Permission, Role, role_allows

BREAK_GLASS_TTL = timedelta(hours=4)  # long enough for one night shift's emergency, short enough to expire


class CaseAssignment(SQLModel, table=True):
    """Who may act on a case; revoking sets revoked_at (history is kept)."""

    __tablename__ = "case_assignment"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    user_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    granted_by: str = Field(max_length=64)
    granted_at: datetime = Field(sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AssignmentCreate(SQLModel):
    """Request body to assign a staff user to a case."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    user_id: str = Field(min_length=1, max_length=32)


class AssignmentPublic(SQLModel):
    """An assignment as shown through the API."""

    case_id: str
    user_id: str
    granted_by: str
    granted_at: datetime
    revoked_at: datetime | None = None


class BreakGlassGrant(SQLModel, table=True):
    """Emergency, time-limited access to a case the user is not assigned to; always audited."""

    __tablename__ = "break_glass_grant"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    case_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    user_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    reason: str = Field(max_length=1000)
    granted_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


class BreakGlassCreate(SQLModel):
    """Request body for breaking the glass: a written reason is mandatory."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    reason: str = Field(min_length=10, max_length=1000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if len(v.strip()) < 10:
            raise ValueError("write the reason for emergency access (at least 10 characters)")
        return v.strip()


class BreakGlassPublic(SQLModel):
    """A break-glass grant as shown to its user and to the auditor."""

    id: str
    case_id: str
    user_id: str
    reason: str
    granted_at: datetime
    expires_at: datetime


class AuthDecision(StrEnum):
    """How a case-scoped permission was granted (for the access log)."""

    ROLE = "role"
    ASSIGNMENT = "assignment"
    BREAK_GLASS = "break-glass"


# --- assignments ----------------------------------------------------------------------------------


def active_assignment(session: Session, case_id: str, user_id: str) -> CaseAssignment | None:
    """The user's current (unrevoked) assignment to the case, or None."""
    stmt = select(CaseAssignment).where(CaseAssignment.case_id == case_id, CaseAssignment.user_id == user_id,
                                        CaseAssignment.revoked_at.is_(None))
    return session.execute(stmt).scalars().first()


def assign(session: Session, *, actor: Actor, case_id: str, user_id: str,
           now: datetime | None = None) -> CaseAssignment:
    """Assign an active staff user to a case (idempotent: an existing assignment is returned)."""
    now = now or utcnow()
    get_case(session, case_id)
    # A user id (unknown: 404 as before) or a username (what people type; unknown: 422 naming it).
    user = resolve_user(session, user_id)
    user_id = user.id
    if not user.active:
        raise Conflict("this staff account is deactivated: reactivate it before assigning it")
    existing = active_assignment(session, case_id, user_id)
    if existing is not None:
        return existing
    row = CaseAssignment(case_id=case_id, user_id=user_id, granted_by=actor.id, granted_at=now)
    session.add(row)
    session.flush()
    append(session, kind=EventKind.CASE_ASSIGNED, actor=actor, case_id=case_id, at=now,
           data={"user": user_id, "role": str(user.role)})
    if str(user.role) == Role.LAW_ENFORCEMENT.value:
        # The liaison receives the consented release: the pathway may be waiting for one (same transaction).
        wake_pathway(session, case_id, "law-enforcement liaison assigned", now)
    return row


def unassign(session: Session, *, actor: Actor, case_id: str, user_id: str,
             now: datetime | None = None) -> CaseAssignment:
    """Revoke a user's assignment to a case (the row stays, with revoked_at)."""
    now = now or utcnow()
    row = active_assignment(session, case_id, user_id)
    if row is None:
        raise NotFound("this user is not assigned to this case")
    row.revoked_at = now
    session.add(row)
    session.flush()
    append(session, kind=EventKind.CASE_UNASSIGNED, actor=actor, case_id=case_id, at=now, data={"user": user_id})
    return row


def list_assignments(session: Session, case_id: str) -> list[CaseAssignment]:
    """Every assignment of a case, current and revoked, oldest first."""
    stmt = select(CaseAssignment).where(CaseAssignment.case_id == case_id).order_by(CaseAssignment.id)
    return list(session.execute(stmt).scalars())


def assigned_case_ids(session: Session, user_id: str) -> list[str]:
    """Case ids the user is currently assigned to."""
    stmt = select(CaseAssignment.case_id).where(CaseAssignment.user_id == user_id,
                                                CaseAssignment.revoked_at.is_(None))
    return list(session.execute(stmt).scalars())


# --- break glass ----------------------------------------------------------------------------------


def break_glass(session: Session, *, actor: Actor, case_id: str, reason: str,
                now: datetime | None = None) -> BreakGlassGrant:
    """Grant the actor time-limited emergency access to a case, with a written reason, recorded in the ledger."""
    now = now or utcnow()
    if not role_allows(actor.role, Permission.BREAK_GLASS):
        raise PermissionDenied("your role cannot use emergency (break-glass) access")
    get_case(session, case_id)
    reason = BreakGlassCreate(reason=reason).reason
    # The reason is free text a person wrote: sealed under the case key (core.crypto.texts); the grant row and
    # the ledger entry hold its commitment, so the auditor's view proves the text against the entry.
    kept = crypto.keep_text(session, case_id=case_id, purpose=crypto.TextPurpose.BREAK_GLASS, text=reason,
                            now=now) or ""
    grant = BreakGlassGrant(id="G" + secrets.token_hex(10), case_id=case_id, user_id=actor.id,
                            reason=kept, granted_at=now, expires_at=now + BREAK_GLASS_TTL)
    session.add(grant)
    session.flush()
    append(session, kind=EventKind.BREAK_GLASS, actor=actor, case_id=case_id, at=now,
           data={"grant": grant.id, "expires_at": grant.expires_at, "reason": kept})
    return grant


def show_break_glass(session: Session, grant: BreakGlassGrant) -> BreakGlassPublic:
    """A grant as shown to its user and the auditor: the reason as text ("[erased]" after a lawful erasure; a
    reason stored in clear before it was sealed, as it is)."""
    return BreakGlassPublic.model_validate(grant, from_attributes=True).model_copy(
        update={"reason": crypto.show_text(session, grant.case_id, grant.reason) or ""})


def active_break_glass(session: Session, case_id: str, user_id: str, now: datetime) -> BreakGlassGrant | None:
    """The user's unexpired break-glass grant for the case, or None."""
    stmt = select(BreakGlassGrant).where(BreakGlassGrant.case_id == case_id, BreakGlassGrant.user_id == user_id)
    for grant in session.execute(stmt).scalars():
        if as_utc(grant.expires_at) > now:
            return grant
    return None


def list_break_glass(session: Session, case_id: str | None = None) -> list[BreakGlassGrant]:
    """Break-glass grants (optionally of one case), newest first, for the auditor."""
    stmt = select(BreakGlassGrant).order_by(BreakGlassGrant.granted_at.desc())
    if case_id:
        stmt = stmt.where(BreakGlassGrant.case_id == case_id)
    return list(session.execute(stmt).scalars())


# --- the decision ---------------------------------------------------------------------------------


def authorize(session: Session, user: Actor, permission: Permission, case_id: str | None = None,
              now: datetime | None = None) -> tuple[Actor, AuthDecision]:
    """Allow `user` to use `permission` (on `case_id` for case-scoped ones) or raise PermissionDenied.

    Fails closed: unknown role/permission, missing case id for a case-scoped permission, no assignment and
    no unexpired break-glass grant → denied. Returns the actor (with break_glass_reason set when the access
    rides on break-glass) and how access was granted.
    """
    now = now or utcnow()
    try:
        permission = Permission(permission)
    except ValueError:
        raise PermissionDenied("unknown permission") from None
    if user.is_system:
        # Flows act as system actors inside the engine; they never come through the HTTP API.
        raise PermissionDenied("system actors do not use the HTTP API")
    if not role_allows(user.role, permission):
        raise PermissionDenied(f"your role ({user.role}) does not allow {permission.value}")
    if permission not in CASE_SCOPED or user.role in PARTY_SCOPED.get(permission, ()):
        return user, AuthDecision.ROLE  # PARTY_SCOPED: the service decides from what was handed to the user
    if not case_id:
        raise PermissionDenied(f"{permission.value} needs a case, and none was given")
    if active_assignment(session, case_id, user.id) is not None:
        return user, AuthDecision.ASSIGNMENT
    grant = active_break_glass(session, case_id, user.id, now)
    if grant is not None:
        return Actor(id=user.id, role=user.role, break_glass_reason=grant.reason), AuthDecision.BREAK_GLASS
    raise PermissionDenied("you are not assigned to this case: ask the coordinator, or use break-glass "
                           "in an emergency")
