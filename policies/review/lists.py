"""Lists of case reviews (their records: ids, times, state, participants' usernames and agencies; no survivor
data, none of the case's content): the reviews of one case, for the staff assigned to it and its coordinators;
and a staff member's own reviews (those they take part in, or scheduled), upcoming unless asked for all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlmodel import Session

from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from policies.authz import authorize
from policies.permissions import Permission
from policies.review.models import Review, ReviewParticipant
from policies.review.rules import is_upcoming
from policies.review.service import review_public
from policies.review.shapes import ReviewPublic


def case_reviews(session: Session, *, actor: Actor, case_id: str, now: datetime | None = None
                 ) -> list[ReviewPublic]:
    """Every review of the case (cancelled ones too), earliest first; PermissionDenied unless `actor` may list
    the case's reviews (assigned to the case, or broke glass)."""
    now = now or utcnow()
    case = get_case(session, case_id)
    authorize(session, actor, Permission.REVIEW_LIST, case.id, now=now)
    rows = session.execute(select(Review).where(Review.case_id == case.id)
                           .order_by(Review.scheduled_for, Review.id)).scalars().all()
    return [review_public(session, r) for r in rows]


def my_reviews(session: Session, *, actor: Actor, include_past: bool = False, now: datetime | None = None
               ) -> list[ReviewPublic]:
    """The reviews `actor` takes part in (not removed) or scheduled: upcoming ones (not cancelled, time not
    passed), or with `include_past` every one of them; earliest first."""
    now = now or utcnow()
    taking_part = select(ReviewParticipant.review_id).where(ReviewParticipant.user_id == actor.id,
                                                            ReviewParticipant.removed_at.is_(None))
    rows = session.execute(select(Review).where(or_(Review.id.in_(taking_part), Review.scheduled_by == actor.id))
                           .order_by(Review.scheduled_for, Review.id)).scalars().all()
    if not include_past:
        rows = [r for r in rows if is_upcoming(scheduled_for=as_utc(r.scheduled_for),
                                               cancelled=r.cancelled_at is not None, now=now)]
    return [review_public(session, r) for r in rows]
