"""Case routes: open/list/read cases, the encrypted identity, assignments and break-glass."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from api.deps import CommitRoute, SessionDep, SettingsDep, require
from core import crypto
from core.actors import Actor
from core.cases import Case, CaseCreate, CasePublic, CaseUpdate, get_case
from policies import authz
from policies.authz import AssignmentCreate, AssignmentPublic, BreakGlassCreate, BreakGlassPublic
from policies.cases import IdentityIn, open_case, read_identity, set_identity, update_case
from policies.permissions import Permission as P
from policies.permissions import Role

router = APIRouter(tags=["cases"], route_class=CommitRoute)


@router.post("/cases", response_model=CasePublic, status_code=201)
def create_case(body: CaseCreate, session: SessionDep, actor: Actor = require(P.CASE_CREATE)) -> Case:
    """Open a case; the examiner who opens it is assigned to it."""
    case = open_case(session, actor=actor, data=body)
    authz.assign(session, actor=actor, case_id=case.id, user_id=actor.id)
    return case


@router.get("/cases", response_model=list[CasePublic])
def list_cases(session: SessionDep, actor: Actor = require(P.CASE_LIST),
               limit: Annotated[int, Query(ge=1, le=500)] = 100,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[Case]:
    """Cases the caller is assigned to (the coordinator sees every case, to assign staff)."""
    stmt = select(Case).order_by(Case.opened_at.desc(), Case.id).limit(limit).offset(offset)
    if actor.role != Role.COORDINATOR:
        stmt = stmt.where(Case.id.in_(authz.assigned_case_ids(session, actor.id)))
    return list(session.execute(stmt).scalars())


@router.get("/cases/{case_id}", response_model=CasePublic)
def read_case(case_id: str, session: SessionDep, actor: Actor = require(P.CASE_READ)) -> Case:
    """One case (pseudonymous fields only)."""
    return get_case(session, case_id)


@router.patch("/cases/{case_id}", response_model=CasePublic)
def change_case(case_id: str, body: CaseUpdate, session: SessionDep, actor: Actor = require(P.CASE_UPDATE)) -> Case:
    """Convert the reporting choice (restricted → unrestricted at any time) and/or record the assault time."""
    return update_case(session, actor=actor, case_id=case_id, data=body)


@router.put("/cases/{case_id}/identity", status_code=204)
def put_identity(case_id: str, body: IdentityIn, session: SessionDep, settings: SettingsDep,
                 actor: Actor = require(P.IDENTITY_WRITE)) -> Response:
    """Store or replace the survivor's identity (encrypted at rest; optional)."""
    set_identity(session, actor=actor, case_id=case_id, identity=body, key=crypto.keyring_from_settings(settings))
    return Response(status_code=204)


@router.get("/cases/{case_id}/identity", response_model=IdentityIn)
def get_identity(case_id: str, session: SessionDep, settings: SettingsDep,
                 actor: Actor = require(P.IDENTITY_READ)) -> IdentityIn:
    """The survivor's identity (the read is written to the access log by the permission dependency)."""
    return read_identity(session, actor=actor, case_id=case_id, key=crypto.keyring_from_settings(settings))


@router.post("/cases/{case_id}/assignments", response_model=AssignmentPublic, status_code=201)
def add_assignment(case_id: str, body: AssignmentCreate, session: SessionDep,
                   actor: Actor = require(P.CASE_ASSIGN)) -> authz.CaseAssignment:
    """Assign a staff user to the case."""
    return authz.assign(session, actor=actor, case_id=case_id, user_id=body.user_id)


@router.delete("/cases/{case_id}/assignments/{user_id}", status_code=204)
def remove_assignment(case_id: str, user_id: str, session: SessionDep,
                      actor: Actor = require(P.CASE_ASSIGN)) -> Response:
    """Revoke a staff user's assignment to the case."""
    authz.unassign(session, actor=actor, case_id=case_id, user_id=user_id)
    return Response(status_code=204)


@router.post("/cases/{case_id}/break-glass", response_model=BreakGlassPublic, status_code=201)
def break_glass(case_id: str, body: BreakGlassCreate, session: SessionDep,
                actor: Actor = require(P.BREAK_GLASS)) -> BreakGlassPublic:
    """Emergency, time-limited access to a case you are not assigned to; the reason is shown to the auditor."""
    return authz.show_break_glass(session, authz.break_glass(session, actor=actor, case_id=case_id,
                                                             reason=body.reason))
