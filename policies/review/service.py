"""Case review services: schedule a review, record its decisions and action items, mark an item done. Each state
change appends its ledger entry in the caller's transaction (ids, agency ids, enums, dates: never the text,
which is sealed in its row under the case key: policies.review.texts). The participant's view is
policies.review.view."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.ids import is_valid_id, new_id
from core.ledger import EventKind
from policies.agencies import CENTRE_AGENCY_ID, Agency, resolve_agency
from policies.authz import User, authorize, resolve_user
from policies.permissions import Permission
from policies.review.models import ActionStatus, Review, ReviewAction, ReviewDecision, ReviewParticipant
from policies.review.rules import ReviewState, check_not_cancelled, check_participant, review_state
from policies.review.shapes import (
    ActionCreate,
    AgencyRef,
    DecisionCreate,
    ParticipantPublic,
    ReviewCreate,
    ReviewPublic,
)
from policies.review.texts import ACTION_TABLE, DECISION_TABLE, seal_review_text


def get_review(session: Session, review_id: str) -> Review:
    """The review, or NotFound (junk ids the same way)."""
    review = session.get(Review, review_id) if is_valid_id(review_id, "review") else None
    if review is None:
        raise NotFound(f"no case review {review_id!r}: check the review id")
    return review


def participants(session: Session, review_id: str) -> list[ReviewParticipant]:
    """The review's participants (not those removed since), in the order they were invited."""
    return list(session.execute(select(ReviewParticipant).where(ReviewParticipant.review_id == review_id,
                                                                ReviewParticipant.removed_at.is_(None))
                                .order_by(ReviewParticipant.id)).scalars())


def participant_of(session: Session, review_id: str, user_id: str) -> ReviewParticipant | None:
    """`user_id`'s participation in the review, or None (never invited, or removed)."""
    return session.execute(select(ReviewParticipant).where(ReviewParticipant.review_id == review_id,
                                                           ReviewParticipant.user_id == user_id,
                                                           ReviewParticipant.removed_at.is_(None))
                           ).scalars().first()


def state_of(session: Session, review: Review) -> ReviewState:
    """Scheduled, held (a decision or an action item is recorded: both are the review's outcome) or cancelled
    (policies.review.rules.review_state)."""
    decided = session.execute(select(exists().where(ReviewDecision.review_id == review.id))).scalar_one() or \
        session.execute(select(exists().where(ReviewAction.review_id == review.id))).scalar_one()
    return review_state(cancelled=review.cancelled_at is not None, decided=bool(decided))


def agency_ref(agency: Agency) -> AgencyRef:
    """An agency as named in a review's responses."""
    return AgencyRef(id=agency.id, name=agency.name, kind=str(agency.kind))


def review_public(session: Session, review: Review) -> ReviewPublic:
    """The review's record (ids, times, participants' usernames and agencies)."""
    out = []
    for p in participants(session, review.id):
        user = session.get(User, p.user_id)
        out.append(ParticipantPublic(user_id=p.user_id, username=user.username if user else p.user_id,
                                     agency=agency_ref(session.get(Agency, p.agency_id)), seat=p.seat))
    return ReviewPublic(id=review.id, case_id=review.case_id, scheduled_for=as_utc(review.scheduled_for),
                        scheduled_by=review.scheduled_by, created_at=as_utc(review.created_at), participants=out,
                        ledger_seq=review.ledger_seq, state=str(state_of(session, review)),
                        cancelled_at=as_utc(review.cancelled_at) if review.cancelled_at else None,
                        cancelled_by=review.cancelled_by, cancel_reason=review.cancel_reason)


def require_chair(session: Session, actor: Actor, review: Review, now: datetime | None = None) -> None:
    """The coordinator chairing a review: one who may schedule reviews of its case (assigned, or break-glass)."""
    authorize(session, actor, Permission.REVIEW_SCHEDULE, review.case_id, now=now)


def schedule_review(session: Session, *, actor: Actor, case_id: str, data: ReviewCreate,
                    now: datetime | None = None) -> Review:
    """Schedule a review of a case the coordinator may see, with active staff participants of the partner
    agencies (usernames or ids). Every participant is checked before anything is recorded."""
    now = now or utcnow()
    data = ReviewCreate.model_validate(data.model_dump())
    case = get_case(session, case_id)
    authorize(session, actor, Permission.REVIEW_SCHEDULE, case.id, now=now)  # PermissionDenied if not theirs
    seated: list[tuple[User, Agency, str]] = []
    for ref in data.participants:
        user = resolve_user(session, ref.strip())
        if any(u.id == user.id for u, _, _ in seated):
            raise ValidationFailed(f"{user.username!r} is listed twice: name each participant once")
        agency = session.get(Agency, user.agency_id)
        seat = check_participant(username=user.username, role=str(user.role), agency_kind=str(agency.kind),
                                 active=bool(user.active))
        seated.append((user, agency, str(seat)))
    review = Review(id=new_id("review"), case_id=case.id, scheduled_for=as_utc(data.scheduled_for),
                    scheduled_by=actor.id, created_at=now, ledger_seq=0)
    entry = ledger.append(session, kind=EventKind.REVIEW_SCHEDULED, actor=actor, case_id=case.id, at=now,
                          data={"review": review.id, "scheduled_for": review.scheduled_for,
                                "participants": [u.id for u, _, _ in seated],
                                "agencies": [a.id for _, a, _ in seated], "seats": [s for _, _, s in seated]})
    review.ledger_seq = entry.seq
    session.add(review)
    session.flush()
    for user, agency, seat in seated:
        session.add(ReviewParticipant(review_id=review.id, user_id=user.id, agency_id=agency.id, seat=seat))
    session.flush()
    return review


def record_decision(session: Session, *, actor: Actor, review_id: str, data: DecisionCreate,
                    key: crypto.KeyringLike = None, now: datetime | None = None) -> ReviewDecision:
    """Record a decision of the review (its chair); the text is sealed under the case key (bound to the row)
    and stays out of the ledger."""
    now = now or utcnow()
    review = get_review(session, review_id)
    require_chair(session, actor, review, now)
    check_not_cancelled(state_of(session, review), "decisions")
    # The row is append-only: the entry comes first and the row names it (ledger_seq), never the other way round.
    entry = ledger.append(session, kind=EventKind.REVIEW_DECIDED, actor=actor, case_id=review.case_id, at=now,
                          data={"review": review.id, "has_text": data.text is not None})
    row_id = crypto.next_row_id(session, ReviewDecision.__table__)  # the ciphertext names its row
    row = ReviewDecision(id=row_id, review_id=review.id, recorded_by=actor.id, recorded_at=now,
                         ledger_seq=entry.seq,
                         text_ciphertext=seal_review_text(session, case_id=review.case_id, table=DECISION_TABLE,
                                                          row_id=row_id, text=data.text, keyring=key, now=now))
    session.add(row)
    session.flush()
    return row


def add_action(session: Session, *, actor: Actor, review_id: str, data: ActionCreate,
               key: crypto.KeyringLike = None, now: datetime | None = None) -> ReviewAction:
    """Add an action item owned by one agency of the review (a participant's, or the centre) with a due date."""
    now = now or utcnow()
    review = get_review(session, review_id)
    require_chair(session, actor, review, now)
    check_not_cancelled(state_of(session, review), "action items")
    owner = resolve_agency(session, data.owner_agency)
    seated = {p.agency_id for p in participants(session, review.id)} | {CENTRE_AGENCY_ID}
    if owner.id not in seated:
        raise ValidationFailed(f"agency {owner.name!r} takes no part in this review: an action item's owner is "
                               "the agency of one of its participants (or the centre)")
    due_at = as_utc(data.due_at)
    if due_at <= now:
        raise ValidationFailed(f"the due date ({due_at.isoformat()}) has passed: give a date after now")
    if data.decision_id is not None:
        decision = session.get(ReviewDecision, data.decision_id)
        if decision is None or decision.review_id != review.id:
            raise ValidationFailed(f"decision {data.decision_id} is not a decision of this review")
    row = ReviewAction(review_id=review.id, decision_id=data.decision_id, owner_agency_id=owner.id, due_at=due_at,
                       status=ActionStatus.OPEN.value, created_by=actor.id, created_at=now, ledger_seq=0)
    session.add(row)
    session.flush()  # the row's id is in the text's associated data: seal once it is known
    assert row.id is not None
    row.text_ciphertext = seal_review_text(session, case_id=review.case_id, table=ACTION_TABLE, row_id=row.id,
                                           text=data.text, keyring=key, now=now)
    entry = ledger.append(session, kind=EventKind.REVIEW_ACTION_ADDED, actor=actor, case_id=review.case_id, at=now,
                          data={"review": review.id, "action": row.id, "decision": data.decision_id,
                                "owner_agency": owner.id, "due_at": due_at, "has_text": data.text is not None})
    row.ledger_seq = entry.seq
    session.add(row)
    session.flush()
    return row


def complete_action(session: Session, *, actor: Actor, action_id: int, now: datetime | None = None) -> ReviewAction:
    """Mark an action item done: a participant of its owner agency, or the review's chair. Done once."""
    now = now or utcnow()
    action = session.execute(select(ReviewAction).where(ReviewAction.id == action_id)
                             .with_for_update()).scalars().first()
    if action is None:
        raise NotFound(f"no action item {action_id}: check the id (coc review show REVIEW)")
    review = get_review(session, action.review_id)
    mine = participant_of(session, review.id, actor.id)
    if mine is None or mine.agency_id != action.owner_agency_id:
        try:
            require_chair(session, actor, review, now)
        except PermissionDenied:
            raise PermissionDenied("only a participant of the owner agency or the review's coordinator may mark "
                                   "this action item done") from None
    if action.status == ActionStatus.DONE.value:
        raise Conflict(f"action item {action.id} is already done")
    action.status, action.done_at, action.done_by = ActionStatus.DONE.value, now, actor.id
    session.add(action)
    ledger.append(session, kind=EventKind.REVIEW_ACTION_DONE, actor=actor, case_id=review.case_id, at=now,
                  data={"review": review.id, "action": action.id, "owner_agency": action.owner_agency_id,
                        "due_at": as_utc(action.due_at), "late": as_utc(action.due_at) < now})
    session.flush()
    return action
