"""Administration: staff accounts (coordinator) and the access log / break-glass list (auditor)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.auth.issuer import hash_password
from api.deps import CommitRoute, SessionDep, require
from core.actors import Actor
from policies import authz
from policies.access import AccessLog, AccessLogPublic, list_access
from policies.authz import BreakGlassPublic, User, UserCreate, UserPublic, UserUpdate
from policies.permissions import Permission as P

router = APIRouter(tags=["admin"], route_class=CommitRoute)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.post("/admin/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, actor: Actor = require(P.USER_ADMIN)) -> User:
    """Create a staff account: a local one with a password, or one keyed by the identity provider's subject."""
    pw_hash = hash_password(body.password) if body.password else None
    return authz.create_user(session, actor=actor, data=body, password_hash=pw_hash)


@router.get("/admin/users", response_model=list[UserPublic])
def list_users(session: SessionDep, actor: Actor = require(P.USER_READ), limit: Limit = 100,
               offset: Offset = 0) -> list[User]:
    """Staff accounts, by username."""
    stmt = select(User).order_by(User.username).limit(limit).offset(offset)
    return list(session.execute(stmt).scalars())


@router.patch("/admin/users/{user_id}", response_model=UserPublic)
def change_user(user_id: str, body: UserUpdate, session: SessionDep, actor: Actor = require(P.USER_ADMIN)) -> User:
    """Change a staff account's role, or deactivate it (effective on its next request)."""
    return authz.update_user(session, actor=actor, user_id=user_id, change=body)


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
                     case_id: Annotated[str | None, Query(max_length=32)] = None) -> list[authz.BreakGlassGrant]:
    """Every emergency (break-glass) access with its written reason, newest first."""
    return authz.list_break_glass(session, case_id)
