"""The multidisciplinary case review (SART case review / MARAC), one concern per module; import the package.

- `models`: tables (review, participants, decisions, action items);
- `shapes`: request/response bodies;
- `rules`: PURE — who sits for which agency, which sections an agency kind sees given the checkpoint's answer;
- `service`: schedule, decide, add and complete action items (ledgered);
- `changes`: reschedule, invite / remove a participant, cancel (the chair; ledgered);
- `lists`: the reviews of a case, and a staff member's own (upcoming) reviews;
- `texts`: decision and action texts sealed under the case key (ERASED_TEXT after a lawful erasure);
- `view`: a participant's consent-filtered view (ledgered and access-logged).
"""

from policies.review.changes import add_participant, cancel_review, remove_participant, reschedule_review
from policies.review.lists import case_reviews, my_reviews
from policies.review.models import ActionStatus, CancelReason, Review, ReviewAction, ReviewDecision, ReviewParticipant
from policies.review.rules import (
    ReviewState,
    Section,
    allowed_handoffs,
    check_participant,
    seat_for,
    visible_sections,
)
from policies.review.service import (
    add_action,
    complete_action,
    get_review,
    record_decision,
    review_public,
    schedule_review,
)
from policies.review.shapes import (
    ActionCreate,
    ActionPublic,
    DecisionCreate,
    DecisionPublic,
    ParticipantAdd,
    ReviewCancel,
    ReviewCreate,
    ReviewPublic,
    ReviewReschedule,
    ReviewView,
)
from policies.review.view import view_review

__all__ = ["ActionCreate", "ActionPublic", "ActionStatus", "CancelReason", "DecisionCreate", "DecisionPublic",
           "ParticipantAdd", "Review", "ReviewAction", "ReviewCancel", "ReviewCreate", "ReviewDecision",
           "ReviewParticipant", "ReviewPublic", "ReviewReschedule", "ReviewState", "ReviewView", "Section",
           "add_action", "add_participant", "allowed_handoffs", "cancel_review", "case_reviews", "check_participant",
           "complete_action", "get_review", "my_reviews", "record_decision", "remove_participant",
           "reschedule_review", "review_public", "schedule_review", "seat_for", "view_review", "visible_sections"]
