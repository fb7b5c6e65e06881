"""Multidisciplinary case review (SART case review / MARAC): schedule, reschedule, participants, cancel, lists,
the participant's consent-filtered view, decisions and action items. Every decision is policies.review's (the
consent checkpoint's rule decides the view)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.deps import ClockDep, CommitRoute, SessionDep, SettingsDep, require
from core import crypto
from core.actors import Actor
from core.clock import as_utc
from policies import review
from policies.agencies import Agency
from policies.permissions import Permission as P
from policies.review.rules import is_overdue
from policies.review.service import agency_ref, require_chair
from policies.review.shapes import MAX_ROW_ID
from policies.review.texts import action_text

router = APIRouter(tags=["review"], route_class=CommitRoute)


def _key(settings) -> crypto.Keyring:
    """The centre keyring (current + retired keys): the case keys unwrap under it."""
    return crypto.keyring_from_settings(settings)


def _action_public(session, action: review.ReviewAction, now, key: crypto.Keyring | None) -> review.ActionPublic:
    """The action item; its text (opened under the case key) only with `key` (the coordinator who wrote it, not
    whoever marks it done)."""
    due = as_utc(action.due_at)
    case_id = review.get_review(session, action.review_id).case_id
    return review.ActionPublic(
        id=action.id, decision_id=action.decision_id,
        owner_agency=agency_ref(session.get(Agency, action.owner_agency_id)), due_at=due, status=action.status,
        overdue=is_overdue(action.status, due, now),
        text=action_text(session, case_id, action, key) if key is not None else None,
        done_at=as_utc(action.done_at) if action.done_at else None, done_by=action.done_by,
        ledger_seq=action.ledger_seq)


def review_chair(review_id: str, session: SessionDep, clock: ClockDep,
                 actor: Actor = require(P.REVIEW_RECORD)) -> Actor:
    """The review's chair (PermissionDenied otherwise), decided BEFORE the body is read: a coordinator who does
    not chair the review is refused, not told what is wrong with the body (the service checks again)."""
    require_chair(session, actor, review.get_review(session, review_id), clock.now())
    return actor


@router.post("/cases/{case_id}/reviews", response_model=review.ReviewPublic, status_code=201)
def schedule(case_id: str, body: review.ReviewCreate, session: SessionDep, clock: ClockDep,
             actor: Actor = require(P.REVIEW_SCHEDULE)) -> review.ReviewPublic:
    """Schedule a review of a case you coordinate (assigned), with participants (usernames) of several agencies."""
    row = review.schedule_review(session, actor=actor, case_id=case_id, data=body, now=clock.now())
    return review.review_public(session, row)


@router.get("/reviews/{review_id}", response_model=review.ReviewView)
def show(review_id: str, session: SessionDep, settings: SettingsDep, clock: ClockDep,
         actor: Actor = require(P.REVIEW_READ)) -> review.ReviewView:
    """The review as you may see it: only the sections the survivor's consents allow for your agency (access-
    logged and ledgered). Not a participant (nor its coordinator): 403."""
    return review.view_review(session, actor=actor, review_id=review_id, key=_key(settings), now=clock.now())


@router.post("/reviews/{review_id}/decisions", response_model=review.DecisionPublic, status_code=201)
def decide(review_id: str, body: review.DecisionCreate, session: SessionDep, settings: SettingsDep,
           clock: ClockDep, actor: Actor = Depends(review_chair)) -> review.DecisionPublic:
    """Record a decision (its text is sealed under the case key at rest and never in the ledger)."""
    row = review.record_decision(session, actor=actor, review_id=review_id, data=body, key=_key(settings),
                                 now=clock.now())
    return review.DecisionPublic(id=row.id, text=body.text, recorded_by=row.recorded_by,
                                 recorded_at=as_utc(row.recorded_at), ledger_seq=row.ledger_seq)


@router.post("/reviews/{review_id}/actions", response_model=review.ActionPublic, status_code=201)
def add_action(review_id: str, body: review.ActionCreate, session: SessionDep, settings: SettingsDep,
               clock: ClockDep, actor: Actor = Depends(review_chair)) -> review.ActionPublic:
    """Add an action item: owner agency (required: name or id) and due date."""
    now = clock.now()
    row = review.add_action(session, actor=actor, review_id=review_id, data=body, key=_key(settings), now=now)
    return _action_public(session, row, now, _key(settings))


@router.post("/review-actions/{action_id}/done", response_model=review.ActionPublic)
def done(action_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], session: SessionDep, clock: ClockDep,
         actor: Actor = require(P.REVIEW_ACTION_UPDATE)) -> review.ActionPublic:
    """Mark an action item done (a participant of its owner agency, or the review's coordinator)."""
    now = clock.now()
    row = review.complete_action(session, actor=actor, action_id=action_id, now=now)
    return _action_public(session, row, now, None)


@router.get("/reviews", response_model=list[review.ReviewPublic])
def mine(session: SessionDep, clock: ClockDep, past: bool = False,
         actor: Actor = require(P.REVIEW_READ)) -> list[review.ReviewPublic]:
    """Your own reviews (those you take part in, or scheduled): upcoming ones; `?past=true` also past and cancelled
    ones. Records only (times, state, participants), none of the case's content."""
    return review.my_reviews(session, actor=actor, include_past=past, now=clock.now())


@router.get("/cases/{case_id}/reviews", response_model=list[review.ReviewPublic])
def of_case(case_id: str, session: SessionDep, clock: ClockDep,
            actor: Actor = require(P.REVIEW_LIST)) -> list[review.ReviewPublic]:
    """Every review of a case you are assigned to (cancelled ones too, with their state), earliest first."""
    return review.case_reviews(session, actor=actor, case_id=case_id, now=clock.now())


@router.post("/reviews/{review_id}/reschedule", response_model=review.ReviewPublic)
def reschedule(review_id: str, body: review.ReviewReschedule, session: SessionDep, clock: ClockDep,
               actor: Actor = Depends(review_chair)) -> review.ReviewPublic:
    """Move a scheduled review (not held, not cancelled) to a new time after now (its chair)."""
    row = review.reschedule_review(session, actor=actor, review_id=review_id, data=body, now=clock.now())
    return review.review_public(session, row)


@router.post("/reviews/{review_id}/participants", response_model=review.ReviewPublic)
def add_participant(review_id: str, body: review.ParticipantAdd, session: SessionDep, clock: ClockDep,
                    actor: Actor = Depends(review_chair)) -> review.ReviewPublic:
    """Invite one more participant (username), checked as at scheduling (its chair)."""
    review.add_participant(session, actor=actor, review_id=review_id, data=body, now=clock.now())
    return review.review_public(session, review.get_review(session, review_id))


@router.delete("/reviews/{review_id}/participants/{user_id}", response_model=review.ReviewPublic)
def remove_participant(review_id: str, user_id: str, session: SessionDep, clock: ClockDep,
                       actor: Actor = Depends(review_chair)) -> review.ReviewPublic:
    """Remove a participant (`user_id`: their username or user id): they no longer see the review (its chair)."""
    review.remove_participant(session, actor=actor, review_id=review_id, participant=user_id, now=clock.now())
    return review.review_public(session, review.get_review(session, review_id))


@router.post("/reviews/{review_id}/cancel", response_model=review.ReviewPublic)
def cancel(review_id: str, body: review.ReviewCancel, session: SessionDep, clock: ClockDep,
           actor: Actor = Depends(review_chair)) -> review.ReviewPublic:
    """Cancel a scheduled review, for a reason from the closed list (its chair); participants still see it."""
    row = review.cancel_review(session, actor=actor, review_id=review_id, data=body, now=clock.now())
    return review.review_public(session, row)
