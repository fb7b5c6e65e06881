"""A participant's view of a case review: the consent checkpoint's rule decides, from the survivor's consent state
at this instant, which handoffs hold (policies.review.rules.allowed_handoffs over policies.checkpoint.rules),
`visible_sections` turns that into the sections the participant's seat may see, and only those are read. Every
view is on the ledger (REVIEW_VIEWED: review, agency, seat, sections, the handoff and its outcome, the consent
entries relied on) and in the access log (who, which review, which sections, when)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.db import start_writing
from core.errors import Erased, PermissionDenied
from core.ledger import EventKind
from policies import advocacy, clinical
from policies.access import log_access
from policies.agencies import Agency
from policies.authz import User
from policies.checkpoint.rules import CaseFacts, evaluate
from policies.consent import active_overrides, consent_state
from policies.deadlines.hands import ItemHands, read_hands
from policies.jurisdictions import get_pack
from policies.permissions import Permission
from policies.review.models import Review, ReviewAction, ReviewDecision, ReviewParticipant
from policies.review.rules import (
    SEAT_HANDOFF,
    Section,
    allowed_handoffs,
    is_overdue,
    seat_for,
    visible_sections,
)
from policies.review.service import agency_ref, get_review, participant_of, require_chair, review_public
from policies.review.shapes import (
    ActionPublic,
    AdvocacySummary,
    DecisionPublic,
    ExamSummary,
    HandoffSummary,
    ItemSummary,
    ReviewView,
)
from policies.review.texts import action_text, decision_text


def _summary(hands: ItemHands) -> ItemSummary:
    return ItemSummary(item_id=hands.item_id, kind=hands.kind, custodian=hands.custodian, handoffs=[
        HandoffSummary(purpose=h.purpose, to_user=h.to_user, offered_at=h.offered_at, accepted_at=h.accepted_at,
                       outcome=h.outcome) for h in hands.handoffs])


def _released_to(hands: ItemHands, staff: set[str]) -> bool:
    """Released to the agency (an accepted release to one of its staff) and not returned since."""
    accepted = [h for h in hands.handoffs if h.outcome == "accepted"]
    released = [i for i, h in enumerate(accepted) if h.purpose == "release" and h.to_user in staff]
    return bool(released) and not any(h.purpose == "return" for h in accepted[released[-1] + 1:])


def _submitted_to(hands: ItemHands, staff: set[str]) -> bool:
    """Submitted to the agency for testing (offered or accepted)."""
    return any(h.purpose == "lab" and h.to_user in staff and h.outcome in ("open", "accepted")
               for h in hands.handoffs)


def _items(session: Session, case_id: str, sections: frozenset[Section], agency_id: str | None) -> list[ItemSummary]:
    hands = read_hands(session, case_id=case_id)
    if Section.ITEMS in sections:
        return [_summary(h) for _, h in sorted(hands.items())]
    staff = set(session.execute(select(User.id).where(User.agency_id == agency_id)).scalars())
    if Section.RELEASED_ITEMS in sections:
        return [_summary(h) for _, h in sorted(hands.items()) if _released_to(h, staff)]
    return [_summary(h) for _, h in sorted(hands.items()) if _submitted_to(h, staff)]


def _actions(session: Session, review: Review, *, with_text: bool, own_agency: str | None, now: datetime,
             key: crypto.KeyringLike) -> list[ActionPublic]:
    rows = session.execute(select(ReviewAction).where(ReviewAction.review_id == review.id)
                           .order_by(ReviewAction.id)).scalars()
    out = []
    for a in rows:
        if not with_text and a.owner_agency_id != own_agency:
            continue
        out.append(ActionPublic(
            id=a.id, decision_id=a.decision_id, owner_agency=agency_ref(session.get(Agency, a.owner_agency_id)),
            due_at=as_utc(a.due_at), status=a.status, overdue=is_overdue(a.status, as_utc(a.due_at), now),
            text=action_text(session, review.case_id, a, key) if with_text else None,
            done_at=as_utc(a.done_at) if a.done_at else None, done_by=a.done_by, ledger_seq=a.ledger_seq))
    return out


def _decisions(session: Session, review: Review, key: crypto.KeyringLike) -> list[DecisionPublic]:
    rows = session.execute(select(ReviewDecision).where(ReviewDecision.review_id == review.id)
                           .order_by(ReviewDecision.id)).scalars()
    return [DecisionPublic(id=d.id, text=decision_text(session, review.case_id, d, key),
                           recorded_by=d.recorded_by, recorded_at=as_utc(d.recorded_at), ledger_seq=d.ledger_seq)
            for d in rows]


def _exams(session: Session, *, actor: Actor, case_id: str, now: datetime, key: crypto.KeyringLike
           ) -> list[ExamSummary]:
    """The case's exams; after a lawful erasure their times and authors, the narrative ERASED_TEXT."""
    try:
        return [ExamSummary(id=e.id, started_at=e.started_at, ended_at=e.ended_at, narrative=e.narrative,
                            recorded_by=e.recorded_by)
                for e in clinical.read_exams(session, actor=actor, case_id=case_id, now=now, key=key)]
    except Erased:
        rows = session.execute(select(clinical.ExamRecord).where(clinical.ExamRecord.case_id == case_id)
                               .order_by(clinical.ExamRecord.id)).scalars()
        return [ExamSummary(id=e.id, started_at=e.started_at, ended_at=e.ended_at, narrative=crypto.ERASED_TEXT,
                            recorded_by=e.recorded_by) for e in rows]


def view_review(session: Session, *, actor: Actor, review_id: str, key: crypto.KeyringLike = None,
                now: datetime | None = None) -> ReviewView:
    """The review as `actor` may see it: a participant the sections their seat's consent allows; the chair
    (a coordinator who may schedule reviews of the case) the record, decisions and actions, none of the case's
    data; anyone else PermissionDenied. Ledgered and access-logged."""
    now = now or utcnow()
    # GET /reviews/{id} on a deferred SQLite session: the view is ledgered from what is read next, so the write
    # lock is taken first (core.db.start_writing; PostgreSQL and writing sessions: nothing changes).
    start_writing(session, "the view's ledger entry names the sections read after this point", reload=True)
    review = get_review(session, review_id)
    seat_row: ReviewParticipant | None = participant_of(session, review.id, actor.id)
    handoff, allowed, relied = None, False, []
    if seat_row is None:
        try:
            require_chair(session, actor, review, now)
        except PermissionDenied:
            raise PermissionDenied("you are not a participant of this case review: ask its coordinator") from None
        sections: frozenset[Section] = frozenset({Section.DECISIONS})
    else:
        user = session.get(User, actor.id)
        if user is None or user.agency_id != seat_row.agency_id:
            raise PermissionDenied("your agency has changed since you were invited to this case review: ask its "
                                   "coordinator to invite you again")
        seat_agency = session.get(Agency, seat_row.agency_id)
        if seat_for(str(seat_agency.kind), str(user.role)) != seat_row.seat:
            raise PermissionDenied("your role has changed since you were invited to this case review: ask its "
                                   "coordinator to invite you again")
        case = get_case(session, review.case_id)
        state, overrides = consent_state(session, case.id, now), active_overrides(session, case.id, now)
        facts = CaseFacts.of(case, get_pack(case.jurisdiction))
        sections = visible_sections(seat_row.seat, allowed_handoffs(state=state, overrides=overrides, facts=facts),
                                    cancelled=review.cancelled_at is not None)
        handoff = SEAT_HANDOFF.get(seat_row.seat)
        if handoff is not None:
            result = evaluate(handoff, state=state, overrides=overrides, facts=facts)
            allowed, relied = result.allowed, [h for h, _ in result.relied]
    agency = session.get(Agency, seat_row.agency_id) if seat_row else None
    shown = sorted(str(s) for s in sections)
    view = ReviewView(review=review_public(session, review), viewer_agency=agency_ref(agency) if agency else None,
                      seat=seat_row.seat if seat_row else None, sections=shown,
                      actions=_actions(session, review, with_text=Section.DECISIONS in sections,
                                       own_agency=agency.id if agency else None, now=now, key=key))
    if Section.EXAM in sections:
        view.exam = _exams(session, actor=actor, case_id=review.case_id, now=now, key=key)
    if sections & {Section.ITEMS, Section.RELEASED_ITEMS, Section.LAB_ITEMS}:
        view.items = _items(session, review.case_id, sections, agency.id if agency else None)
    if Section.ADVOCACY in sections:
        view.advocacy = [AdvocacySummary(id=r.id, kind=str(r.kind), service=str(r.service) if r.service else None,
                                         status=str(r.status), due_at=r.due_at, recorded_at=r.recorded_at)
                         for r in advocacy.list_advocacy(session, review.case_id)]
    if Section.DECISIONS in sections:
        view.decisions = _decisions(session, review, key)
    ledger.append(session, kind=EventKind.REVIEW_VIEWED, actor=actor, case_id=review.case_id, at=now,
                  data={"review": review.id, "agency": agency.id if agency else None,
                        "seat": seat_row.seat if seat_row else None, "sections": shown,
                        "handoff": str(handoff) if handoff else None, "allowed": allowed, "relied_on": relied})
    log_access(session, actor=actor, case_id=review.case_id, resource=f"review view: {','.join(shown) or 'nothing'}",
               permission=Permission.REVIEW_READ, break_glass=bool(actor.break_glass_reason), now=now,
               object_id=review.id)
    return view
