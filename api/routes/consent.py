"""Consent, overrides, exam, care, alerts, jurisdictions and clocks (policies services over HTTP).

Each route declares exactly one permission through api.deps.require; the services do the work and the
session dependency commits. Consent denials from the checkpoint come back as 403 "Consent required" with the
reason, and the denial is already on the ledger (policies.checkpoint.enforce commits it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.deps import CommitRoute, SessionDep, SettingsDep, note_sensitive_read, require
from core import crypto
from core.actors import Actor
from core.cases import get_case
from core.clock import utcnow
from policies import authz, clinical, consent, deadlines
from policies.consent import (
    ConsentDecisionCreate,
    ConsentDecisionPublic,
    ConsentOverrideCreate,
    ConsentOverridePublic,
)
from policies.jurisdictions import RulePack, installed_packs
from policies.permissions import Permission as P
from policies.permissions import Role

router = APIRouter(tags=["consent"], route_class=CommitRoute)


class ScopeStatePublic(BaseModel):
    """The effective state of one consent scope now."""

    scope: str
    status: str
    method: str | None = None
    written: bool = False
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    ledger_hash: str | None = None
    override: str | None = None  # the basis of an override in force for this scope, if any


class ConsentOverview(BaseModel):
    """A case's consent history (every decision and override) and the state in force now."""

    state: list[ScopeStatePublic]
    decisions: list[ConsentDecisionPublic]
    overrides: list[ConsentOverridePublic]


class ExamSummary(BaseModel):
    """What recording an exam returns: never the narrative."""

    id: int
    case_id: str
    started_at: datetime
    ended_at: datetime | None
    recorded_at: datetime
    ledger_seq: int


class ClockPublic(BaseModel):
    """One clinical or legal clock of a case."""

    name: str
    item_id: str | None
    starts_at: datetime
    deadline: datetime
    status: str
    met_at: datetime | None
    remaining_seconds: int
    detail: str | None = None  # e.g. "collected 16 h after its 24 h window" (status "late")


def _key(settings) -> crypto.Keyring:
    return crypto.keyring_from_settings(settings)  # the centre key + retired ones (per-case keys unwrap under them)


def _override(session: SessionDep, row: consent.ConsentOverride) -> ConsentOverridePublic:
    """An override as shown: its legal basis and reference as text (the row holds commitments)."""
    return ConsentOverridePublic.model_validate(row, from_attributes=True).model_copy(update={
        "legal_basis": crypto.show_text(session, row.case_id, row.legal_basis),
        "reference": crypto.show_text(session, row.case_id, row.reference)})


def _care(session: SessionDep, row: clinical.CareRecord) -> clinical.CarePublic:
    """A care event as shown: its late justification as text (the row holds its commitment)."""
    return clinical.CarePublic.model_validate(row, from_attributes=True).model_copy(update={
        "late_justification": crypto.show_text(session, row.case_id, row.late_justification)})


@router.post("/cases/{case_id}/consents", response_model=ConsentDecisionPublic, status_code=201)
def post_consent(case_id: str, body: ConsentDecisionCreate, session: SessionDep,
                 actor: Actor = require(P.CONSENT_WRITE)) -> ConsentDecisionPublic:
    """Record a consent decision (granted, declined or withdrawn) for one scope; nothing is overwritten."""
    row = consent.record_decision(session, actor=actor, case_id=case_id, data=body)
    return ConsentDecisionPublic.model_validate(row, from_attributes=True).model_copy(  # form_ref as text
        update={"form_ref": crypto.show_text(session, row.case_id, row.form_ref)})


@router.get("/cases/{case_id}/consents", response_model=ConsentOverview)
def get_consents(case_id: str, session: SessionDep, actor: Actor = require(P.CONSENT_READ)) -> ConsentOverview:
    """Every decision and override of the case, and the state of each scope now."""
    now = utcnow()
    state = consent.consent_state(session, case_id, now)
    overrides = consent.active_overrides(session, case_id, now)
    return ConsentOverview(
        state=[ScopeStatePublic(scope=str(s.scope), status=str(s.status), method=s.method, written=s.written,
                                expires_at=s.expires_at, decided_at=s.decided_at, ledger_hash=s.ledger_hash,
                                override=str(overrides[s.scope].basis) if s.scope in overrides else None)
               for s in state.values()],
        decisions=[ConsentDecisionPublic.model_validate(r, from_attributes=True).model_copy(
                       update={"form_ref": crypto.show_text(session, r.case_id, r.form_ref)})
                   for r in consent.list_decisions(session, case_id)],
        overrides=[_override(session, r) for r in consent.list_overrides(session, case_id)],
    )


@router.post("/cases/{case_id}/overrides", response_model=ConsentOverridePublic, status_code=201)
def post_override(case_id: str, body: ConsentOverrideCreate, session: SessionDep,
                  actor: Actor = require(P.OVERRIDE_WRITE)) -> ConsentOverridePublic:
    """Record a statutory override (mandatory report for a minor, court order) with its legal basis."""
    return _override(session, consent.record_override(session, actor=actor, case_id=case_id, data=body))


@router.post("/cases/{case_id}/exam", response_model=ExamSummary, status_code=201)
def post_exam(case_id: str, body: clinical.ExamCreate, session: SessionDep, settings: SettingsDep,
              actor: Actor = require(P.EXAM_WRITE)) -> clinical.ExamRecord:
    """Record the examination (forensic-exam consent required); the narrative is encrypted at rest."""
    return clinical.record_exam(session, actor=actor, case_id=case_id, data=body, key=_key(settings))


@router.get("/cases/{case_id}/exam", response_model=list[clinical.ExamPublic])
def get_exam(case_id: str, session: SessionDep, settings: SettingsDep,
             actor: Actor = require(P.EXAM_READ)) -> list[clinical.ExamPublic]:
    """The exam records; an advocate reads them only with a written, unexpired sharing release."""
    return clinical.read_exams(session, actor=actor, case_id=case_id, key=_key(settings))


@router.post("/cases/{case_id}/care", response_model=clinical.CarePublic, status_code=201)
def post_care(case_id: str, body: clinical.CareCreate, session: SessionDep,
              actor: Actor = require(P.CARE_WRITE)) -> clinical.CarePublic:
    """Record PEP / emergency contraception (etc.) offered, given or declined, with its time."""
    return _care(session, clinical.record_care(session, actor=actor, case_id=case_id, data=body))


@router.get("/cases/{case_id}/care", response_model=list[clinical.CarePublic])
def get_care(case_id: str, session: SessionDep, actor: Actor = require(P.CARE_READ)) -> list[clinical.CarePublic]:
    """The case's care events in time order (an advocate only with a written, unexpired sharing release)."""
    return [_care(session, r) for r in clinical.list_care(session, case_id, actor=actor)]


@router.get("/alerts", response_model=list[deadlines.AlertPublic])
def get_alerts(session: SessionDep, actor: Actor = require(P.ALERT_READ),
               case_id: Annotated[str | None, Query(max_length=32)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[deadlines.Alert]:
    """Deadline alerts, newest first; staff see the cases they are assigned to, auditors/coordinators all."""
    if actor.role in (Role.COORDINATOR, Role.AUDITOR):
        return deadlines.list_alerts(session, case_id=case_id, limit=limit)
    if actor.role in (Role.LAW_ENFORCEMENT, Role.LAB):  # another agency's staff: their own items' deadlines
        return deadlines.list_agency_alerts(session, user_id=actor.id, case_id=case_id, limit=limit)
    # Filter before the limit (in the query): newer alerts of other cases must not push one's own out.
    mine = authz.assigned_case_ids(session, actor.id)
    return deadlines.list_alerts(session, case_id=case_id, case_ids=mine, limit=limit)


@router.get("/jurisdictions", response_model=list[RulePack])
def get_jurisdictions(actor: Actor = require(P.JURISDICTION_READ)) -> list[RulePack]:
    """The installed jurisdiction rule packs."""
    return [installed_packs()[code] for code in sorted(installed_packs())]


@router.get("/cases/{case_id}/clocks", response_model=list[ClockPublic])
def get_clocks(case_id: str, request: Request, session: SessionDep,
               actor: Actor = require(P.CASE_READ)) -> list[ClockPublic]:
    """The case's clinical and legal clocks now (PEP and EC clocks for an advocate only with a sharing release)."""
    now = utcnow()
    get_case(session, case_id)
    clocks = deadlines.clocks_for(session, actor=actor, case_id=case_id, now=now)
    if any(c.name in deadlines.MEDICAL_CLOCKS for c in clocks):  # they tell when care was decided
        note_sensitive_read(session, request, actor=actor, case_id=case_id, permission=P.CARE_READ)
    return [ClockPublic(name=str(c.name), item_id=c.item_id, starts_at=c.starts_at, deadline=c.deadline,
                        status=str(c.status), met_at=c.met_at,
                        remaining_seconds=int(c.remaining(now).total_seconds()), detail=c.detail)
            for c in clocks]
