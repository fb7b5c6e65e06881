"""Administration: staff accounts and partner agencies (coordinator) and the access log / break-glass list
(auditor)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.auth.issuer import hash_password
from api.deps import CommitRoute, SessionDep, require
from core.actors import Actor
from evidence import staff
from policies import agencies, authz
from policies.access import AccessLog, AccessLogPublic, list_access
from policies.agencies import Agency, AgencyCreate, AgencyPublic
from policies.authz import BreakGlassPublic, User, UserCreate, UserPublic, UserUpdate
from policies.permissions import Permission as P

router = APIRouter(tags=["admin"], route_class=CommitRoute)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.post("/admin/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, actor: Actor = require(P.USER_ADMIN)) -> UserPublic:
    """Create a staff account: a local one with a password, or one keyed by the identity provider's subject.

    `agency` (name or id) is the account's agency: centre roles default to the centre; law enforcement must
    name theirs; a role that does not fit the agency's kind is refused (422)."""
    pw_hash = hash_password(body.password) if body.password else None
    return authz.user_public(session, authz.create_user(session, actor=actor, data=body, password_hash=pw_hash))


@router.get("/admin/users", response_model=list[UserPublic])
def list_users(session: SessionDep, actor: Actor = require(P.USER_READ), limit: Limit = 100,
               offset: Offset = 0) -> list[UserPublic]:
    """Staff accounts, by username, each with its agency."""
    stmt = select(User).order_by(User.username).limit(limit).offset(offset)
    return authz.users_public(session, list(session.execute(stmt).scalars()))


@router.patch("/admin/users/{user_id}", response_model=UserPublic)
def change_user(user_id: str, body: UserUpdate, session: SessionDep,
                actor: Actor = require(P.USER_ADMIN)) -> UserPublic:
    """Change a staff account's role or agency, or deactivate it (effective on its next request). An account
    holding evidence (or with evidence offered to it) cannot move to another agency: 409."""
    return authz.user_public(session, staff.change_staff(session, actor=actor, user_id=user_id, change=body))


@router.post("/admin/agencies", response_model=AgencyPublic, status_code=201)
def create_agency(body: AgencyCreate, session: SessionDep, actor: Actor = require(P.AGENCY_ADMIN)) -> Agency:
    """Register a partner agency (police, crime-lab, prosecution, advocacy-org); its staff are then created with
    `agency` set to its name."""
    return agencies.create_agency(session, actor=actor, data=body)


@router.get("/admin/agencies", response_model=list[AgencyPublic])
def list_agencies(session: SessionDep, actor: Actor = require(P.AGENCY_READ)) -> list[Agency]:
    """Every agency, by name (the centre's own included)."""
    return agencies.list_agencies(session)


@router.get("/audit/access-log", response_model=list[AccessLogPublic])
def access_log(session: SessionDep, actor: Actor = require(P.ACCESS_LOG_READ),
               case_id: Annotated[str | None, Query(max_length=32)] = None,
               user_id: Annotated[str | None, Query(max_length=64)] = None,
               outcome: Literal["read", "refused", "all"] = "read",
               object_id: Annotated[str | None, Query(max_length=32)] = None,
               limit: Limit = 100, offset: Offset = 0) -> list[AccessLog]:
    """Reads of sensitive data (identity, exam narrative, safety plan, photographs), newest first; with
    `outcome=refused` the refused attempts on evidence, consent-protected data or a survivor's file (who, which
    object, which permission, why refused), `outcome=all` both. `object_id`: one case, item or transfer id."""
    return list_access(session, case_id=case_id, user_id=user_id, outcome=None if outcome == "all" else outcome,
                       object_id=object_id, limit=limit, offset=offset)


@router.get("/audit/break-glass", response_model=list[BreakGlassPublic])
def break_glass_list(session: SessionDep, actor: Actor = require(P.ACCESS_LOG_READ),
                     case_id: Annotated[str | None, Query(max_length=32)] = None) -> list[BreakGlassPublic]:
    """Every emergency (break-glass) access with its written reason (decrypted), newest first."""
    return [authz.show_break_glass(session, g) for g in authz.list_break_glass(session, case_id)]
