"""The multidisciplinary case review (SART case review / MARAC), one concern per module; import the package.

- `models`: tables (review, participants, decisions, action items);
- `shapes`: request/response bodies;
- `rules`: PURE — who sits for which agency, which sections an agency kind sees given the checkpoint's answer;
- `service`: schedule, decide, add and complete action items (ledgered);
- `texts`: decision and action texts sealed under the case key (ERASED_TEXT after a lawful erasure);
- `view`: a participant's consent-filtered view (ledgered and access-logged).
"""

from policies.review.models import ActionStatus, Review, ReviewAction, ReviewDecision, ReviewParticipant
from policies.review.rules import Section, allowed_handoffs, check_participant, seat_for, visible_sections
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
    ReviewCreate,
    ReviewPublic,
    ReviewView,
)
from policies.review.view import view_review

__all__ = ["ActionCreate", "ActionPublic", "ActionStatus", "DecisionCreate", "DecisionPublic", "Review",
           "ReviewAction", "ReviewCreate", "ReviewDecision", "ReviewParticipant", "ReviewPublic", "ReviewView",
           "Section", "add_action", "allowed_handoffs", "check_participant", "complete_action", "get_review",
           "record_decision", "review_public", "schedule_review", "seat_for", "view_review", "visible_sections"]
