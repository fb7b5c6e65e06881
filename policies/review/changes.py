"""Changes to a scheduled case review, by its chair (the coordinator who may schedule reviews of its case):
reschedule, invite or remove a participant, cancel. The rules are policies.review.rules (pure); each change is
one service function that appends its ledger entry in the caller's transaction (ids, agency ids, enums, dates:
no free text: a cancellation's reason is a closed enum, models.CancelReason). The review row is locked first, so
two concurrent changes are decided one after the other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.clock import as_utc, utcnow
from core.ledger import EventKind
from policies.agencies import CENTRE_AGENCY_ID, Agency
from policies.authz import resolve_user
from policies.review.models import ActionStatus, Review, ReviewAction, ReviewParticipant
from policies.review.rules import (
    check_add,
    check_cancel,
    check_not_cancelled,
    check_participant,
    check_removal,
    check_reschedule,
)
from policies.review.service import get_review, participant_of, participants, require_chair, state_of
from policies.review.shapes import ParticipantAdd, ReviewCancel, ReviewReschedule


def _chaired(session: Session, actor: Actor, review_id: str, now: datetime) -> Review:
    """The review, locked, once `actor` is known to chair it (PermissionDenied before any state is told)."""
    review = get_review(session, review_id)
    require_chair(session, actor, review, now)
    return session.execute(select(Review).where(Review.id == review.id).with_for_update()
                           .execution_options(populate_existing=True)).scalars().one()


def reschedule_review(session: Session, *, actor: Actor, review_id: str, data: ReviewReschedule,
                      now: datetime | None = None) -> Review:
    """Move a scheduled review (not held, not cancelled) to a new time after now."""
    now = now or utcnow()
    data = ReviewReschedule.model_validate(data.model_dump())
    review = _chaired(session, actor, review_id, now)
    old, new = as_utc(review.scheduled_for), as_utc(data.scheduled_for)
    check_reschedule(state=state_of(session, review), current=old, new=new, now=now)
    review.scheduled_for = new
    session.add(review)
    ledger.append(session, kind=EventKind.REVIEW_RESCHEDULED, actor=actor, case_id=review.case_id, at=now,
                  data={"review": review.id, "from": old, "to": new})
    session.flush()
    return review


def add_participant(session: Session, *, actor: Actor, review_id: str, data: ParticipantAdd,
                    now: datetime | None = None) -> ReviewParticipant:
    """Invite one more participant (username or id), with the checks of scheduling (active, an agency kind and
    role that take part); a participant removed earlier is invited again with their agency as it is now."""
    now = now or utcnow()
    review = _chaired(session, actor, review_id, now)
    check_not_cancelled(state_of(session, review), "participant changes")
    user = resolve_user(session, data.participant.strip())
    check_add(already_in=participant_of(session, review.id, user.id) is not None,
              seated=len(participants(session, review.id)))
    agency = session.get(Agency, user.agency_id)
    seat = str(check_participant(username=user.username, role=str(user.role), agency_kind=str(agency.kind),
                                 active=bool(user.active)))
    row = session.execute(select(ReviewParticipant).where(ReviewParticipant.review_id == review.id,
                                                          ReviewParticipant.user_id == user.id)).scalars().first()
    if row is None:
        row = ReviewParticipant(review_id=review.id, user_id=user.id, agency_id=agency.id, seat=seat)
    else:  # removed earlier: the same row, taking part again
        row.agency_id, row.seat, row.removed_at, row.removed_by = agency.id, seat, None, None
    session.add(row)
    ledger.append(session, kind=EventKind.REVIEW_PARTICIPANT_ADDED, actor=actor, case_id=review.case_id, at=now,
                  data={"review": review.id, "user": user.id, "agency": agency.id, "seat": seat})
    session.flush()
    return row


def remove_participant(session: Session, *, actor: Actor, review_id: str, participant: str,
                       now: datetime | None = None) -> ReviewParticipant:
    """Remove a participant (username or id): from now on they do not see the review (their view answers as for
    anyone outside it). Never the last one: cancel the review instead."""
    now = now or utcnow()
    review = _chaired(session, actor, review_id, now)
    check_not_cancelled(state_of(session, review), "participant changes")
    user = resolve_user(session, participant.strip())
    row = participant_of(session, review.id, user.id)
    seated = participants(session, review.id)
    orphaned = 0
    if row is not None and row.agency_id != CENTRE_AGENCY_ID and not any(
            p.agency_id == row.agency_id and p.id != row.id for p in seated):
        orphaned = session.execute(select(func.count()).select_from(ReviewAction).where(
            ReviewAction.review_id == review.id, ReviewAction.owner_agency_id == row.agency_id,
            ReviewAction.status == ActionStatus.OPEN.value)).scalar_one()
    check_removal(taking_part=row is not None, remaining=len(seated) - 1, orphaned_open_actions=orphaned)
    assert row is not None
    row.removed_at, row.removed_by = now, actor.id
    session.add(row)
    ledger.append(session, kind=EventKind.REVIEW_PARTICIPANT_REMOVED, actor=actor, case_id=review.case_id, at=now,
                  data={"review": review.id, "user": user.id, "agency": row.agency_id})
    session.flush()
    return row


def cancel_review(session: Session, *, actor: Actor, review_id: str, data: ReviewCancel,
                  now: datetime | None = None) -> Review:
    """Cancel a scheduled review (not one that has met) for a reason from the closed list. Its participants still
    see it, for the record; it takes no more decisions, action items or participant changes."""
    now = now or utcnow()
    data = ReviewCancel.model_validate(data.model_dump())
    review = _chaired(session, actor, review_id, now)
    check_cancel(state_of(session, review))
    review.cancelled_at, review.cancelled_by, review.cancel_reason = now, actor.id, str(data.reason)
    session.add(review)
    ledger.append(session, kind=EventKind.REVIEW_CANCELLED, actor=actor, case_id=review.case_id, at=now,
                  data={"review": review.id, "reason": str(data.reason),
                        "scheduled_for": as_utc(review.scheduled_for)})
    session.flush()
    return review
