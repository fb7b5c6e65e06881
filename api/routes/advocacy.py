"""Advocacy over HTTP: services, referrals and outcomes, contacts, safety-plan revisions, follow-ups; and the
signed-in person's work queue (GET /tasks).

Every advocacy route is case-scoped (the caller must be assigned to the case) and the services pass the consent
checkpoint's sharing release first: without it, 403 "Consent required" (the denial is on the ledger). Nothing
here gates the exam, evidence or release routes: advocacy is never a condition of service.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import CommitRoute, SessionDep, SettingsDep, require
from core.actors import Actor
from evidence import worklist
from policies import advocacy, advocacy_followups, advocacy_records
from policies.advocacy_models import (
    ContactCreate,
    EntryPublic,
    FollowUpOutcomeCreate,
    FollowUpPublic,
    ReferralCreate,
    ReferralOutcomeCreate,
    SafetyPlanRevision,
    ServiceDecision,
    entry_public,
)
from policies.permissions import Permission as P

router = APIRouter(tags=["advocacy"], route_class=CommitRoute)
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # a record's integer id (fits the database column)


def _key(settings) -> str:
    return settings.secret("identity_key")


def _public(session, case_id: str, row_id: int) -> advocacy.AdvocacyPublic:
    return next(r for r in advocacy.list_advocacy(session, case_id) if r.id == row_id)


@router.post("/cases/{case_id}/advocacy", response_model=advocacy.AdvocacyPublic, status_code=201)
def post_advocacy(case_id: str, body: advocacy.AdvocacyCreate, session: SessionDep, settings: SettingsDep,
                  actor: Actor = require(P.ADVOCACY_WRITE)) -> advocacy.AdvocacyPublic:
    """Add a service, referral, safety-plan or follow-up record (safety-plan notes encrypted at rest)."""
    row = advocacy_records.record_entry(session, actor=actor, case_id=case_id, data=body, key=_key(settings))
    return _public(session, case_id, row.id)


@router.get("/cases/{case_id}/advocacy", response_model=list[advocacy.AdvocacyPublic])
def get_advocacy(case_id: str, session: SessionDep,
                 actor: Actor = require(P.ADVOCACY_READ)) -> list[advocacy.AdvocacyPublic]:
    """The case's advocacy records without safety-plan notes (see /advocacy/safety-plans)."""
    return advocacy_records.list_records(session, actor=actor, case_id=case_id)


@router.get("/cases/{case_id}/advocacy/overview", response_model=advocacy_records.AdvocacyOverview)
def get_overview(case_id: str, session: SessionDep,
                 actor: Actor = require(P.ADVOCACY_READ)) -> advocacy_records.AdvocacyOverview:
    """Where each service stands, referrals with their outcome, contacts made, safety-plan revision count."""
    return advocacy_records.advocacy_overview(session, actor=actor, case_id=case_id)


@router.post("/cases/{case_id}/advocacy/services", response_model=advocacy.AdvocacyPublic, status_code=201)
def post_service(case_id: str, body: ServiceDecision, session: SessionDep,
                 actor: Actor = require(P.ADVOCACY_WRITE)) -> advocacy.AdvocacyPublic:
    """A service offered, accepted or declined."""
    row = advocacy_records.record_service(session, actor=actor, case_id=case_id, data=body)
    return _public(session, case_id, row.id)


@router.post("/cases/{case_id}/advocacy/referrals", response_model=advocacy.AdvocacyPublic, status_code=201)
def post_referral(case_id: str, body: ReferralCreate, session: SessionDep,
                  actor: Actor = require(P.ADVOCACY_WRITE)) -> advocacy.AdvocacyPublic:
    """A referral to an outside service (its outcome is pending until recorded)."""
    row = advocacy_records.record_referral(session, actor=actor, case_id=case_id, data=body)
    return _public(session, case_id, row.id)


@router.post("/cases/{case_id}/advocacy/referrals/{referral_id}/outcome", response_model=EntryPublic,
             status_code=201)
def post_referral_outcome(case_id: str, referral_id: RowId, body: ReferralOutcomeCreate, session: SessionDep,
                          actor: Actor = require(P.ADVOCACY_WRITE)) -> EntryPublic:
    """What came of a referral (closed set of outcomes)."""
    row = advocacy_records.record_referral_outcome(session, actor=actor, case_id=case_id, referral_id=referral_id,
                                                   outcome=body.outcome)
    return entry_public(row)


@router.post("/cases/{case_id}/advocacy/contacts", response_model=EntryPublic, status_code=201)
def post_contact(case_id: str, body: ContactCreate, session: SessionDep,
                 actor: Actor = require(P.ADVOCACY_WRITE)) -> EntryPublic:
    """A contact made with the survivor: kind, when, outcome (by the signed-in advocate)."""
    return entry_public(advocacy_records.record_contact(session, actor=actor, case_id=case_id, data=body))


@router.post("/cases/{case_id}/advocacy/safety-plans", response_model=advocacy.AdvocacyPublic, status_code=201)
def post_safety_plan(case_id: str, body: SafetyPlanRevision, session: SessionDep, settings: SettingsDep,
                     actor: Actor = require(P.ADVOCACY_WRITE)) -> advocacy.AdvocacyPublic:
    """A new safety-plan revision (encrypted at rest; every earlier revision is kept)."""
    row = advocacy_records.revise_safety_plan(session, actor=actor, case_id=case_id, notes=body.notes,
                                              key=_key(settings))
    return _public(session, case_id, row.id)


@router.get("/cases/{case_id}/advocacy/safety-plans", response_model=list[advocacy_records.SafetyPlanPublic])
def get_safety_plans(case_id: str, session: SessionDep, settings: SettingsDep,
                     revision: Annotated[int | None, Query(ge=1, le=100_000)] = None,
                     actor: Actor = require(P.SAFETY_PLAN_READ)) -> list[advocacy_records.SafetyPlanPublic]:
    """Safety-plan revisions with their decrypted notes (every revision read is access-logged)."""
    return advocacy_records.read_safety_plan(session, actor=actor, case_id=case_id, revision=revision,
                                             key=_key(settings))


@router.get("/cases/{case_id}/advocacy/follow-ups", response_model=list[FollowUpPublic])
def get_follow_ups(case_id: str, session: SessionDep,
                   actor: Actor = require(P.ADVOCACY_READ)) -> list[FollowUpPublic]:
    """The case's follow-ups after the exam: what each covers, when due, whether it happened."""
    advocacy_records.require_release(session, actor=actor, case_id=case_id)
    return [FollowUpPublic.of(r) for r in advocacy_followups.list_follow_ups(session, case_id)]


@router.post("/cases/{case_id}/advocacy/follow-ups", response_model=list[FollowUpPublic], status_code=201)
def post_follow_ups(case_id: str, session: SessionDep,
                    actor: Actor = require(P.ADVOCACY_WRITE)) -> list[FollowUpPublic]:
    """Schedule the pack's follow-ups from the exam (once; the pathway's follow-up stage does this itself)."""
    advocacy_records.require_release(session, actor=actor, case_id=case_id)
    return [FollowUpPublic.of(r) for r in advocacy_followups.schedule_follow_ups(session, actor=actor,
                                                                                 case_id=case_id)]


@router.post("/cases/{case_id}/advocacy/follow-ups/{follow_up_id}/outcome", response_model=FollowUpPublic)
def post_follow_up_outcome(case_id: str, follow_up_id: RowId, body: FollowUpOutcomeCreate, session: SessionDep,
                           actor: Actor = require(P.ADVOCACY_WRITE)) -> FollowUpPublic:
    """Whether a due follow-up happened: done, missed or declined."""
    row = advocacy_followups.record_follow_up_outcome(session, actor=actor, case_id=case_id,
                                                      follow_up_id=follow_up_id, outcome=body.outcome)
    return FollowUpPublic.of(row)


@router.get("/tasks", response_model=list[worklist.Task])
def get_tasks(session: SessionDep, actor: Actor = require(P.TASKS_READ)) -> list[Any]:
    """Your work queue: follow-ups due on your cases, transfer offers to you, notices due (senders), oldest first."""
    return worklist.work_queue(session, actor=actor)
