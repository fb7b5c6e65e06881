"""Pure rules of the case review (no Session): who may take part for which agency (the seat), which handoffs the
consent checkpoint is asked about for a seat, and which sections of the case each agency kind may see given what
the checkpoint allowed. Unit-tested over every combination in tests/unit/test_review_rules.py.

What a seat may see (domain.md, "Partner agencies"; VAWA: sharing needs a written, time-limited release):
  * centre (health: the examining clinicians): the exam, every item of the case with its custody summary;
  * advocacy organisation (and the centre's own advocates): the advocacy records, only while the
    information-sharing release holds (checkpoint handoff advocate-read-exam) — never the exam;
  * police / prosecution: the items released to their agency and their custody, only while the release to law
    enforcement holds (which the checkpoint never allows for a restricted report) — nothing else;
  * crime lab: the items submitted to it for testing, only while release and lab-testing consent hold.
The decisions and the whole action list go to a seat that sees something of the case; a participant whose seat
sees nothing still sees the action items its own agency owns (without their text).

Changes to a review (policies.review.changes): a review is SCHEDULED, HELD once a decision or an action item is
recorded (it has met), or CANCELLED. Only a scheduled review may be rescheduled (to a new time after now) or
cancelled; a cancelled review takes no decision, action item or participant change (its participants still read
its record, none of the case: it never met); a review keeps at least one participant (to drop the last one, cancel
it), and an agency owning open action items keeps at least one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from core.errors import Conflict, ValidationFailed
from policies.agencies import AgencyKind
from policies.checkpoint.rules import CaseFacts, OverrideLike, evaluate
from policies.consent import ScopeState
from policies.handoffs import ConsentScope, Handoff
from policies.permissions import Role

K = AgencyKind


class Section(StrEnum):
    """A part of the case a review participant may be shown."""

    EXAM = "exam"
    ITEMS = "items"  # every item of the case and its custody summary (the centre)
    RELEASED_ITEMS = "released-items"  # items released to the participant's agency (police, prosecution)
    LAB_ITEMS = "lab-items"  # items submitted to the participant's crime lab for testing
    ADVOCACY = "advocacy"
    DECISIONS = "decisions"  # the review's decisions and every action item, with their text


# The handoff the checkpoint decides for each seat (None: the centre's own record, no handoff out of it).
SEAT_HANDOFF: dict[AgencyKind, Handoff | None] = {
    K.CENTRE: None,
    K.ADVOCACY_ORG: Handoff.ADVOCATE_SHARE,
    K.POLICE: Handoff.RELEASE_LAW_ENFORCEMENT,
    K.PROSECUTION: Handoff.RELEASE_LAW_ENFORCEMENT,
    K.CRIME_LAB: Handoff.LAB_TESTING,
}
REVIEW_HANDOFFS: frozenset[Handoff] = frozenset(h for h in SEAT_HANDOFF.values() if h is not None)

# What each seat sees once its handoff is allowed (the centre: always).
_SEAT_SECTIONS: dict[AgencyKind, frozenset[Section]] = {
    K.CENTRE: frozenset({Section.EXAM, Section.ITEMS}),
    K.ADVOCACY_ORG: frozenset({Section.ADVOCACY}),
    K.POLICE: frozenset({Section.RELEASED_ITEMS}),
    K.PROSECUTION: frozenset({Section.RELEASED_ITEMS}),
    K.CRIME_LAB: frozenset({Section.LAB_ITEMS}),
}

# Which roles take part for which agency kind: the seat is the agency's kind, except that the centre's own
# advocates sit as advocacy (they never see the exam through a review). Anything else is refused.
_SEATS: dict[tuple[AgencyKind, Role], AgencyKind] = {
    (K.CENTRE, Role.EXAMINER): K.CENTRE,
    (K.CENTRE, Role.ADVOCATE): K.ADVOCACY_ORG,
    (K.ADVOCACY_ORG, Role.ADVOCATE): K.ADVOCACY_ORG,
    (K.POLICE, Role.LAW_ENFORCEMENT): K.POLICE,
    (K.PROSECUTION, Role.LAW_ENFORCEMENT): K.PROSECUTION,
    (K.CRIME_LAB, Role.LAB): K.CRIME_LAB,
}
MAX_PARTICIPANTS = 30


def seat_for(agency_kind: AgencyKind | str, role: Role | str) -> AgencyKind | None:
    """The seat (agency kind whose view applies) of a `role` user of an agency of `agency_kind`; None: cannot
    take part (e.g. the centre's evidence-store staff, auditors, coordinators, who chair)."""
    try:
        return _SEATS.get((AgencyKind(agency_kind), Role(role)))
    except ValueError:
        return None


def check_participant(*, username: str, role: str, agency_kind: str, active: bool) -> AgencyKind:
    """The participant's seat, or ValidationFailed (422) naming the staff member and what to do."""
    if not active:
        raise ValidationFailed(f"staff account {username!r} is deactivated: reactivate it or invite someone else")
    seat = seat_for(agency_kind, role)
    if seat is None:
        raise ValidationFailed(
            f"{username!r} ({role}, agency kind {agency_kind}) cannot take part in a case review: participants are "
            "the centre's examiners and advocates, advocacy-organisation advocates, police or prosecution staff "
            "and crime-lab staff")
    return seat


def allowed_handoffs(*, state: Mapping[ConsentScope, ScopeState], overrides: Mapping[ConsentScope, OverrideLike],
                     facts: CaseFacts) -> frozenset[Handoff]:
    """The review handoffs the consent checkpoint's rule allows at this instant (fail closed)."""
    return frozenset(h for h in REVIEW_HANDOFFS
                     if evaluate(h, state=state, overrides=overrides, facts=facts).allowed)


def visible_sections(seat: AgencyKind | str, allowed: frozenset[Handoff], *, cancelled: bool = False
                     ) -> frozenset[Section]:
    """THE decision: the sections a participant of `seat` may see, given the handoffs the checkpoint allowed.
    Unknown seat: nothing. A cancelled review (it never met) has no purpose left for sharing the case: its
    participants read its record only."""
    if cancelled:
        return frozenset()
    try:
        seat = AgencyKind(seat)
    except ValueError:
        return frozenset()
    if seat not in _SEAT_SECTIONS:
        return frozenset()
    handoff = SEAT_HANDOFF[seat]
    if handoff is not None and handoff not in allowed:
        return frozenset()
    return _SEAT_SECTIONS[seat] | {Section.DECISIONS}


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """An action item is overdue when still open past its due date."""
    return status == "open" and due_at < now


class ReviewState(StrEnum):
    """Where a review stands (derived: cancelled_at on the row; held once a decision is recorded)."""

    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


def review_state(*, cancelled: bool, decided: bool) -> ReviewState:
    """Cancelled wins (a cancelled review takes no decision); a recorded decision means the review has met."""
    if cancelled:
        return ReviewState.CANCELLED
    return ReviewState.HELD if decided else ReviewState.SCHEDULED


def check_not_cancelled(state: ReviewState | str, what: str) -> None:
    """Conflict (409) when the review is cancelled: `what` (decisions, action items, participant changes) can no
    longer be recorded."""
    if state == ReviewState.CANCELLED:
        raise Conflict(f"this review was cancelled: {what} can no longer be recorded on it; schedule a new review "
                       "of the case (coc review schedule CASE ...)")


def check_reschedule(*, state: ReviewState | str, current: datetime, new: datetime, now: datetime) -> None:
    """A scheduled review moves to a new time after now (Conflict if held or cancelled; ValidationFailed for a time
    in the past or the same time)."""
    check_not_cancelled(state, "a new time")
    if state == ReviewState.HELD:
        raise Conflict("this review has met (a decision or an action item is recorded): it cannot be moved; "
                       "schedule a follow-up review instead")
    if new <= now:
        raise ValidationFailed(f"the new time ({new.isoformat()}) has passed: give a time after now")
    if new == current:
        raise ValidationFailed(f"the review is already scheduled for {current.isoformat()}: give a different time")


def check_cancel(state: ReviewState | str) -> None:
    """Only a scheduled review is cancelled (Conflict: already cancelled, or held)."""
    if state == ReviewState.CANCELLED:
        raise Conflict("this review is already cancelled")
    if state == ReviewState.HELD:
        raise Conflict("this review has met (a decision or an action item is recorded): it cannot be cancelled; "
                       "its decisions and action items stand")


def check_add(*, already_in: bool, seated: int) -> None:
    """A new participant: not one already taking part, and at most MAX_PARTICIPANTS."""
    if already_in:
        raise Conflict("this staff member already takes part in the review")
    if seated >= MAX_PARTICIPANTS:
        raise ValidationFailed(f"a review has at most {MAX_PARTICIPANTS} participants: remove one first")


def check_removal(*, taking_part: bool, remaining: int, orphaned_open_actions: int = 0) -> None:
    """Remove a participant: one who takes part, never the last one (cancel the review instead), and never the
    last one of an agency that owns open action items of the review (`orphaned_open_actions`): the agency would
    stay accountable for items it could no longer see."""
    if not taking_part:
        raise ValidationFailed("this staff member does not take part in the review: check the username "
                               "(coc review show REVIEW lists the participants)")
    if remaining < 1:
        raise ValidationFailed("this is the review's last participant: cancel the review instead "
                               "(coc review cancel REVIEW --reason ...)")
    if orphaned_open_actions:
        raise Conflict(f"this is the last participant of an agency that owns open action items of this review "
                       f"({orphaned_open_actions}): mark them done, or invite another participant of that agency, "
                       "first")


def is_upcoming(*, scheduled_for: datetime, cancelled: bool, now: datetime) -> bool:
    """Still to meet: not cancelled, and its time has not passed."""
    return not cancelled and scheduled_for >= now
