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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from core.errors import ValidationFailed
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


def visible_sections(seat: AgencyKind | str, allowed: frozenset[Handoff]) -> frozenset[Section]:
    """THE decision: the sections a participant of `seat` may see, given the handoffs the checkpoint allowed.
    Unknown seat: nothing."""
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
